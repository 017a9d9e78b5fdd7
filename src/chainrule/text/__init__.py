"""Character-level language models, as in Karpathy's makemore: learn from a file of words
(names, one per line) to write new ones.

- :mod:`~chainrule.text.vocab`: reading the words, the vocabulary and its boundary token;
- :mod:`~chainrule.text.models`: the models by name (bigram, mlp, rnn, gru, lstm,
  transformer);
- :mod:`~chainrule.text.lm`: :class:`LanguageModel`, one object holding the vocabulary and
  the network, with its loss, sampling and model file;
- :mod:`~chainrule.text.train`: :func:`train` a model on a text file (``chainrule train
  --text``);
- :mod:`~chainrule.text.census`: the census first names of the PyPI package ``names``.

From the command line: ``chainrule train --text names.txt --model gru`` then
``chainrule sample runs/names/model.safetensors -n 20``.
"""

from .census import census_first_names
from .lm import Examples, LanguageModel
from .models import MODELS, ModelKind, Sizes, get
from .train import TextConfig, TextResult, split_words, train
from .vocab import BOUNDARY, Vocabulary, read_words

__all__ = [
    "BOUNDARY",
    "MODELS",
    "Examples",
    "LanguageModel",
    "ModelKind",
    "Sizes",
    "TextConfig",
    "TextResult",
    "Vocabulary",
    "census_first_names",
    "get",
    "read_words",
    "split_words",
    "train",
]
