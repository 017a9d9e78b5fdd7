"""Network pieces: modules, layers, activations, losses and initialisers.

>>> import chainrule as cr
>>> from chainrule import nn
>>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1), nn.Sigmoid())
>>> model
Sequential(
  (0): Linear(2, 4)
  (1): Tanh()
  (2): Linear(4, 1)
  (3): Sigmoid()
)
"""

from . import (
    activations,
    attention,
    functional,
    init,
    language,
    losses,
    registry,
    transformer,
    utils,
)
from .activations import Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiheadAttention, PositionalEncoding, generate_square_subsequent_mask
from .cells import GRUCell, LSTMCell, RNNCell
from .container import Sequential
from .conv import Conv2d
from .embedding import Embedding
from .layers import Dropout, Dropout2d, Flatten, Linear, Unflatten
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .recurrent import GRU, LSTM, RNN
from .transformer import TransformerEncoderLayer

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Dropout2d",
    "Embedding",
    "Flatten",
    "GRUCell",
    "Identity",
    "LSTMCell",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "MultiheadAttention",
    "Parameter",
    "PositionalEncoding",
    "RNNCell",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TransformerEncoderLayer",
    "Unflatten",
    "activations",
    "attention",
    "functional",
    "generate_square_subsequent_mask",
    "init",
    "language",
    "losses",
    "registry",
    "transformer",
    "utils",
]
