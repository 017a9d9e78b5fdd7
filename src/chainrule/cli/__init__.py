"""The ``chainrule`` command: train, evaluate, predict, inspect and gradient-check models.

``chainrule train`` with no arguments trains the course's 2-4-1 network: tanh hidden units and
a sigmoid output, full-batch gradient descent (learning rate 1.2) on the flower data set.
``chainrule train --data FILE.csv --target COL`` is the main job: any CSV table, its columns
typed and shown, a model saved with its preprocessing.

One module per command (``train``, ``evaluate``, ``predict``, ``info``, ``gradcheck``,
``export``, ``playground``, ``demo``) parses its options, calls the library and prints what it
returns; :mod:`.options` holds the options they share (``train``'s are the fields of
:class:`chainrule.job.TrainConfig`), :mod:`.report` the one mapping from library errors and
warnings to exit statuses, hints and flags, :mod:`.app` the entry point.  Heavy libraries
are imported inside the commands that need them, so ``chainrule --help`` answers at once.
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
