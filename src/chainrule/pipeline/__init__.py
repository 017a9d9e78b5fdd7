"""A model and its preprocessing as one object.

A :class:`Pipeline` holds fitted steps (the table encoder, the feature scaler: see
:data:`STEPS`), a network and its output :class:`Head` (probabilities, classes, or values in
the target's units).  It predicts and scores raw rows, and its preprocessing is the one
``preprocessing`` entry of a model file (:mod:`chainrule.pipeline.layout`), so a model
trained by ``chainrule train`` is loaded (:func:`load`), used and exported as one object
(:func:`chainrule.onnx.export_model_file` converts each step)::

    pipe = chainrule.pipeline.load("runs/titanic/model.safetensors")
    pipe.predict(frame)        # class names or values in the target's units
    pipe.predict_proba(frame)  # one column per class
"""

from .files import load, save
from .head import Head, Readout, regression_scores
from .pipeline import Pipeline
from .steps import STEPS, Step, TableStep, TargetStep, get

__all__ = ["STEPS", "Head", "Pipeline", "Readout", "Step", "TableStep", "TargetStep", "get",
           "load", "regression_scores", "save"]
