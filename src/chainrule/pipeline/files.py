"""A pipeline in a model file: :func:`load` and :func:`save`.

The network is the file's tensors and architecture (:mod:`chainrule.tools.saving`); the
pipeline's steps and head are its one ``preprocessing`` metadata entry
(:mod:`chainrule.pipeline.layout`); other metadata (``training``...) rides along.
"""

from __future__ import annotations

import os
from typing import Any

from ..tools.saving import load_with_metadata
from ..tools.saving import save as save_network
from .pipeline import Pipeline

__all__ = ["load", "load_with_metadata_of", "save"]


def load_with_metadata_of(path: str | os.PathLike[str]) -> tuple[Pipeline, dict[str, Any]]:
    """The pipeline saved at ``path`` and the file's metadata (JSON values decoded)."""
    network, meta = load_with_metadata(path)
    return Pipeline.from_dict(meta.get("preprocessing"), network, os.fspath(path)), meta


def load(path: str | os.PathLike[str]) -> Pipeline:
    """The pipeline saved at ``path`` (by ``chainrule train`` or :func:`save`)."""
    return load_with_metadata_of(path)[0]


def save(pipeline: Pipeline, path: str | os.PathLike[str], **metadata: Any) -> None:
    """Write ``pipeline`` as a model file at ``path``, with ``metadata`` beside it."""
    save_network(pipeline.network, path, preprocessing=pipeline.to_dict(), **metadata)
