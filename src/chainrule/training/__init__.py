"""Training without writing the loop: :func:`fit`, callbacks and the returned :class:`History`.

>>> import chainrule as cr
>>> from chainrule import nn
>>> from chainrule.data import make_flower
>>> X, y = make_flower(seed=1)
>>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1), nn.Sigmoid())
>>> history = cr.fit(model, X, y, optimizer="sgd", lr=1.2, batch_size=None, epochs=5,
...                  validation_split=0.2, seed=0, verbose=0)
>>> sorted(history.history)
['accuracy', 'loss', 'lr', 'val_accuracy', 'val_loss']
"""

from . import metrics, tasks
from .callback import Callback
from .callbacks import (
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    TerminateOnNaN,
)
from .functions import evaluate, fit
from .history import History
from .liveplot import LivePlot
from .progress import ProgressLogger
from .registry import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    ConfigError,
    build_mlp,
    get_activation,
    get_loss,
    get_optimizer,
)
from .trainer import Trainer

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "CSVLogger",
    "Callback",
    "ConfigError",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "LivePlot",
    "ModelCheckpoint",
    "ProgressLogger",
    "TerminateOnNaN",
    "Trainer",
    "build_mlp",
    "evaluate",
    "fit",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "metrics",
    "tasks",
]
