"""``chainrule train --data`` from Python: :func:`train` reads a table (a CSV path or a pandas
DataFrame, text and date columns included), trains, saves the run as the command does, and
returns the fitted pipeline.

>>> import chainrule as cr
>>> model = cr.train(dataset="iris", epochs=5, out=str(getfixture("tmp_path")), plots=False)
>>> sorted(model.results)
['train', 'validation']
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

from .errors import ConfigError, DataError
from .job import TrainConfig
from .predictor import Predictor
from .workflow import train as run_job

__all__ = ["train"]


def train(data: Any = None, target: str | None = None, **options: Any) -> Predictor:
    """Train on a table as ``chainrule train --data FILE --target COL`` does, and return the
    fitted pipeline: ``predict(rows)``, ``predict_proba(rows)``, ``score(rows, y)``,
    ``save(path)``, ``export_onnx(path)``, where ``rows`` are a DataFrame or CSV path with the
    training columns, by name.

    ``data`` is a CSV path or a pandas DataFrame (``dataset="iris"`` names a built-in data set
    instead); the options are the command's flags with underscores (``layers=[64, 32]``,
    ``epochs=50``, ``lr=1e-3``, ``task="classification"``, ``drop=["id"]``, ``val_split=0.2``,
    ``test_split=0.1``, ``seed=0``, ``device="cuda"``...). As the command, it writes the model,
    its history and plots into ``out`` (default ``runs/<data name>``); each split's numbers are
    in ``model.results``.  A run that diverged (non-finite numbers) raises a DataError saying
    what to change.

    Args:
        data: A CSV path (str or path-like) or a pandas DataFrame; None when ``dataset`` or
            ``text`` gives the data.
        target: The name of the column to predict; needed with ``data``.
        **options: The command's flags with underscores (``dataset``, ``layers``,
            ``epochs``, ``lr``, ``batch_size``, ``task``, ``drop``, ``val_split``,
            ``test_split``, ``seed``, ``device``, ``out``, ``plots``, ...); the ConfigError
            for an unknown one lists them all.

    Returns:
        The saved run loaded back as a :class:`~chainrule.predictor.Predictor`, with each
        split's numbers in ``results``.

    Raises:
        ConfigError: An unknown option, ``data`` that is neither a path nor a DataFrame, or
            (under MPI) a process other than the rank that saved the model.
        OptionError: (a ConfigError) Options that do not fit together, e.g. ``data``
            without ``target``.
        DataError: The table cannot be used, or training diverged.
    """
    valid = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(f"train: unknown option {unknown[0]!r}; the options are "
                          f"{', '.join(sorted(valid - {'data', 'target'}))}")
    if data is not None and not isinstance(data, (str, os.PathLike)) and \
            not hasattr(data, "columns"):
        raise ConfigError(f"train: data must be a CSV path or a pandas DataFrame, got "
                          f"{type(data).__name__}; for arrays use chainrule.fit")
    cfg = TrainConfig(data=os.fspath(data) if isinstance(data, os.PathLike) else data,
                      target=target, **options)
    result = run_job(cfg)
    if result.diverged:
        hint = result.hint.render(lambda o: o.name) if hasattr(result.hint, "render") \
            else str(result.hint)
        raise DataError(f"train: {result.diverged}" + (f"; {hint}" if hint else ""))
    if result.path is None:  # another MPI rank writes the file
        raise ConfigError("train: this process is not the rank that saved the model")
    return Predictor.load(result.path)
