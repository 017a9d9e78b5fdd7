"""The model table, and each model learning names: better than a uniform guess, and the
neural bigram reaching what counting pairs of letters gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.text import MODELS, LanguageModel, Sizes, TextConfig, get, train
from chainrule.text.models import CharTransformer


def test_get_names_every_kind_and_lists_them_when_wrong() -> None:
    assert list(MODELS) == ["bigram", "mlp", "rnn", "gru", "lstm", "transformer"]
    assert get("GRU") is MODELS["gru"]
    with pytest.raises(ConfigError, match="unknown model 'gpt2'; choose one of bigram, gru, "
                                          "lstm, mlp, rnn, transformer"):
        get("gpt2")


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_kind_beats_a_uniform_guess(kind: str, names_file, tmp_path) -> None:
    # About 650 names, 4 epochs of batches of 32: each kind ends 0.8 to 1.0 nats below
    # log(27) = 3.30 on the held-out names (measured); 0.6 leaves room for other BLAS.
    result = train(TextConfig(names_file, model=kind, epochs=4, batch_size=32,
                              out=tmp_path / "run", plots=False))
    uniform = math.log(result.model.vocab.size)
    assert result.baseline == pytest.approx(uniform)
    assert result.metrics["validation"]["loss"] < uniform - 0.6, result.metrics
    assert len(result.history["val_loss"]) == 4


def _counts_nll(words: list[str], lm: LanguageModel) -> float:
    """The bigram model by counting: P(b | a) = N[a, b] / N[a, :], its mean negative
    log-likelihood per predicted token on the words it was counted on (the least any bigram
    model can reach there)."""
    v = lm.vocab.size
    counts = np.zeros((v, v))
    for word in words:
        tokens = [0, *lm.vocab.encode(word), 0]
        np.add.at(counts, (tokens[:-1], tokens[1:]), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    seen = counts > 0
    return float(-(counts[seen] * np.log(p[seen])).sum() / counts.sum())


def test_the_neural_bigram_reaches_the_counted_one(names_file, few_names, tmp_path) -> None:
    result = train(TextConfig(names_file, model="bigram", epochs=30, batch_size=256, lr=0.1,
                              val_split=0, out=tmp_path / "run", plots=False))
    counted = _counts_nll(few_names, result.model)
    assert 2.2 < counted < 2.5  # about 2.32 nats on these names
    # the counts are the optimum: training approaches them from above (0.003 away here)
    assert counted - 1e-4 <= result.metrics["train"]["loss"] < counted + 0.02


def test_sizes_that_do_not_apply_are_refused(few_names) -> None:
    with pytest.raises(ConfigError, match="embed does not apply to the bigram model"):
        LanguageModel.new(few_names, "bigram", Sizes(embed=4))
    with pytest.raises(ConfigError, match="heads does not apply to the gru model; it takes "
                                          "embed, hidden, layers"):
        LanguageModel.new(few_names, "gru", Sizes(heads=2))


def test_the_transformer_needs_room_for_the_longest_word(few_names) -> None:
    longest = max(map(len, few_names))
    lm = LanguageModel.new(few_names, "transformer")
    assert lm.network.block_size == longest + 1
    with pytest.raises(ConfigError, match="shorter than the longest word"):
        LanguageModel.new(few_names, "transformer", Sizes(block_size=longest))
    with pytest.raises(ConfigError, match="multiple of --heads 3"):
        LanguageModel.new(few_names, "transformer", Sizes(embed=16, heads=3))


def test_sinusoidal_positions_are_a_buffer_and_causal(few_names) -> None:
    net = CharTransformer(27, 16, 32, 1, 2, 10, positions="sinusoidal", rng=0)
    assert "position.pe" in dict(net.named_buffers())
    tokens = np.array([[0, 5, 9, 2, 7]])
    changed = tokens.copy()
    changed[0, 3:] = [1, 1]
    # position t sees tokens 0..t only: changing later tokens leaves earlier logits alone
    a, b = net(tokens).numpy(), net(changed).numpy()
    np.testing.assert_allclose(a[0, :3], b[0, :3], rtol=1e-6)
    assert not np.allclose(a[0, 3:], b[0, 3:])


@pytest.mark.parametrize("kind", ["mlp", "lstm", "transformer"])
def test_a_saved_model_loads_with_its_vocabulary(kind: str, few_names, tmp_path) -> None:
    lm = LanguageModel.new(few_names, kind, rng=0)
    path = tmp_path / "lm.safetensors"
    lm.save(path, training={"note": "untrained"})
    back, meta = LanguageModel.load(path)
    assert (back.vocab, back.kind, back.sizes, back.max_length) == (
        lm.vocab, lm.kind, lm.sizes, lm.max_length)
    assert meta["training"] == {"note": "untrained"}
    batch = lm.examples(few_names[:5])
    np.testing.assert_array_equal(lm.network(batch.inputs).data,
                                  back.network(batch.inputs).data)
