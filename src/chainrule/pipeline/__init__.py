"""A model and its preprocessing as one object.

A :class:`Pipeline` holds fitted steps (the table encoder, the feature scaler: see
:data:`STEPS`), a network and its output :class:`Head` (probabilities, classes, or values in
the target's units).  It predicts and scores raw rows, and its preprocessing is the one
``preprocessing`` entry of a model file (:mod:`chainrule.pipeline.layout`), so a model
trained by ``chainrule train`` is loaded, used and exported as one object
(:func:`chainrule.onnx.export_model_file` converts each step).  Loading and saving model
files: :mod:`chainrule.pipeline.files`.
"""

from .head import Head, Readout, regression_scores
from .pipeline import Pipeline
from .steps import STEPS, Step, TableStep, TargetStep, get

__all__ = ["STEPS", "Head", "Pipeline", "Readout", "Step", "TableStep", "TargetStep", "get",
           "regression_scores"]
