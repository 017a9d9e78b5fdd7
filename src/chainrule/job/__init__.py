"""The job spec of ``chainrule train``: every option of a training run, declared once.

- :mod:`~chainrule.job.spec`: :class:`TrainConfig`, its fields with their command-line
  declarations (:func:`flags`, :func:`flag_of`) and the checks that join two fields;
- :mod:`~chainrule.job.options`: the :class:`Flag` a field declares, and the text parsers and
  value rules the options use;
- :mod:`~chainrule.job.rules`: the job's rules that need the data (the task a target and a
  loss make, class weights, the features' range, the network's size).
"""

from .options import (
    MAX_CLASS_WEIGHT,
    NOT_GIVEN,
    Flag,
    check_class_weight,
    parse_class_weight,
    parse_delimiter,
    parse_positive_float,
    parse_positive_int,
)
from .spec import RunOptions, TrainConfig, flag_of, flags

__all__ = [
    "MAX_CLASS_WEIGHT",
    "NOT_GIVEN",
    "Flag",
    "RunOptions",
    "TrainConfig",
    "check_class_weight",
    "flag_of",
    "flags",
    "parse_class_weight",
    "parse_delimiter",
    "parse_positive_float",
    "parse_positive_int",
]
