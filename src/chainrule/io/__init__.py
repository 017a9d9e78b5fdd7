"""The file formats: the safetensors container, atomic writes, and model files.

This package is the floor the rest stands on: it imports only NumPy and
:mod:`chainrule.errors`, never ``nn`` or ``tools``.  Building a network from what a file
describes is the business of :mod:`chainrule.tools.saving`, above ``nn``.
"""

from .atomic import atomic_write, check_file_name, write_error, writes_to
from .modelfile import (
    FORMAT,
    FORMAT_VERSION,
    RESERVED,
    ModelHeader,
    check_extent,
    decode_metadata,
    encode_metadata,
    open_model_file,
    read_model_header,
    write_model_file,
)
from .safetensors import (
    DTYPES,
    Header,
    TensorInfo,
    open_safetensors,
    read_header,
    read_safetensors,
    read_tensors,
    write_safetensors,
)
from .text import escape_controls, printable

__all__ = [
    "DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "RESERVED",
    "Header",
    "ModelHeader",
    "TensorInfo",
    "atomic_write",
    "check_extent",
    "check_file_name",
    "decode_metadata",
    "encode_metadata",
    "escape_controls",
    "open_model_file",
    "open_safetensors",
    "printable",
    "read_header",
    "read_model_header",
    "read_safetensors",
    "read_tensors",
    "write_error",
    "write_model_file",
    "write_safetensors",
    "writes_to",
]
