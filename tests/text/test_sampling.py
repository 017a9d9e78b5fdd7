"""Sampling: the same seed gives the same words, made of the vocabulary's characters."""

from __future__ import annotations

import pytest

from chainrule.errors import ConfigError
from chainrule.text import LanguageModel, TextConfig, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, few_names) -> LanguageModel:
    folder = tmp_path_factory.mktemp("sampling")
    path = folder / "names.txt"
    path.write_text("\n".join(few_names), encoding="utf-8")
    return train(TextConfig(path, model="gru", epochs=3, out=folder / "run",
                            plots=False)).model


def test_the_same_seed_gives_the_same_words(trained) -> None:
    first = trained.sample(20, seed=3)
    assert trained.sample(20, seed=3) == first
    assert trained.sample(20, seed=4) != first
    assert trained.sample(20, seed=3, temperature=0.5) != first


def test_words_are_made_of_the_vocabulary_and_capped(trained, few_names) -> None:
    words = trained.sample(50, seed=0)
    allowed = set(trained.vocab.chars) - {"."}
    assert all(set(w) <= allowed for w in words)
    assert all(len(w) <= max(map(len, few_names)) for w in words)
    assert sum(map(len, words)) > 100  # mostly real words, not empty strings
    assert all(len(w) <= 3 for w in trained.sample(30, seed=0, max_length=3))


def test_a_low_temperature_keeps_to_likely_words(trained, few_names) -> None:
    # at temperature 0.1 the model nearly always takes its likeliest character, so the words
    # come out much alike
    assert len(set(trained.sample(40, seed=1, temperature=0.1))) < len(
        set(trained.sample(40, seed=1)))


@pytest.mark.parametrize("how, message", [
    ({"n": 0}, "n must be a positive whole number"),
    ({"n": 2, "temperature": 0}, "temperature must be a positive number"),
    ({"n": 2, "max_length": 0}, "max_length must be a positive whole number"),
])
def test_bad_sampling_options(trained, how, message) -> None:
    with pytest.raises(ConfigError, match=message):
        trained.sample(**how)


def test_window_models_sample_too(few_names) -> None:
    lm = LanguageModel.new(few_names, "mlp", rng=0)
    words = lm.sample(10, seed=0)
    assert words == lm.sample(10, seed=0) and len(words) == 10
