"""The array library behind every tensor: the one seam between the primitives and NumPy.

A primitive never imports NumPy (``tests/test_layering.py`` holds this).  It asks for the
namespace of the arrays it was given, ``xp = namespace(a)``, and calls the functions of the
`array API standard <https://data-apis.org/array-api/>`_ on it: ``xp.sum``, ``xp.reshape``,
``xp.astype``, ``xp.matmul``...  So the same rule runs on NumPy arrays (the CPU), CuPy arrays
(an NVIDIA GPU) and any other library that implements the standard, such as
``array-api-strict``, the test suite's stand-in for a GPU: it refuses everything outside the
standard, so what passes there needs nothing CuPy lacks.

For NumPy arrays the namespace is NumPy itself, except that the calls on every training step
(``sum``, ``reshape``, ``astype``...) go to the array's own methods: NumPy's module-level
functions wrap them in Python and cost up to a microsecond more each (``tests/engine/
test_backend.py`` checks both forms agree).  What the standard lacks and chainrule needs is
here too, one function each, with the code for each library side by side:
:func:`sliding_windows` (convolution and pooling windows), :func:`add_at` (scatter-add, for the
backward of indexing), :func:`pad` and :func:`errstate`.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any

import numpy
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import DeviceError

ndarray = numpy.ndarray
"""The CPU's array type (the fast path of every check is ``type(a) is ndarray``)."""

host = numpy
"""NumPy itself, for what is NumPy's on purpose: the functions a user calls on a tensor
(``np.exp(t)``, dispatched to the engine) and arrays read back to the host."""

__all__ = ["NUMPY", "add_at", "asarray_on", "dtype_in", "dtype_name", "errstate", "host",
           "is_array", "is_floating", "library_name", "namespace", "ndarray", "pad",
           "sliding_windows"]


def _numpy_namespace() -> types.ModuleType:
    """NumPy, with the standard's functions that NumPy wraps in Python sent to methods."""
    ns = types.ModuleType("chainrule.engine.backend.NUMPY")
    ns.__dict__.update((k, v) for k, v in vars(numpy).items() if not k.startswith("__"))
    ns.__getattr__ = lambda name: getattr(numpy, name)  # lazily loaded NumPy submodules

    def _sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return x.sum(axis=axis, dtype=dtype, keepdims=keepdims)

    def _mean(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return x.mean(axis=axis, dtype=dtype, keepdims=keepdims)

    def _max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return x.max(axis=axis, keepdims=keepdims)

    def _min(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return x.min(axis=axis, keepdims=keepdims)

    def _reshape(x: Any, /, shape: Any, *, copy: bool | None = None) -> Any:
        return x.reshape(shape) if not copy else x.reshape(shape).copy()

    def _astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        return x.astype(dtype, copy=copy)

    def _permute_dims(x: Any, /, axes: Any) -> Any:
        return x.transpose(axes)

    def _matrix_transpose(x: Any, /) -> Any:
        return x.swapaxes(-1, -2)

    for f in (_sum, _mean, _max, _min, _reshape, _astype, _permute_dims, _matrix_transpose):
        setattr(ns, f.__name__[1:], f)
    ns.concat = numpy.concatenate  # the same C function without the alias's wrapper
    return ns


NUMPY = _numpy_namespace()
"""The namespace of NumPy arrays (NumPy, with the hot calls sent to methods)."""


def namespace(first: Any, *more: Any) -> Any:
    """The array API namespace of the arrays given: one library, or a :class:`DeviceError`
    naming both when they live on two devices (None and Python numbers are skipped).

    >>> namespace(numpy.zeros(2)) is NUMPY
    True
    """
    if type(first) is ndarray and not more:
        return NUMPY
    found = None
    for a in (first, *more):
        if a is None or isinstance(a, (int, float, bool)):
            continue
        ns = _namespace_of(a)
        if found is None or getattr(ns, "lifts", False):  # tensors: the rule is recorded
            found = ns
        elif ns is not found and not getattr(found, "lifts", False):
            raise DeviceError(f"arrays on two devices in one operation: {library_name(found)} "
                              f"and {library_name(ns)}; move one with .to(device) first")
    return NUMPY if found is None else found


def _namespace_of(a: Any) -> Any:
    if isinstance(a, (ndarray, numpy.generic)):
        return NUMPY
    if _is_cupy(a):  # before __array_namespace__: CuPy 13's arrays lack it
        return _cupy_namespace()
    get = getattr(a, "__array_namespace__", None)
    if get is None:
        raise DeviceError(f"{type(a).__module__}.{type(a).__name__} is not an array chainrule "
                          "can compute with (it needs NumPy, CuPy or an array API library)")
    return get()


def _is_cupy(a: Any) -> bool:
    return type(a).__module__.startswith("cupy")


def _cupy_namespace() -> Any:
    # CuPy's own namespace predates parts of the standard; array-api-compat fills them in.
    try:
        import array_api_compat.cupy as ns
    except ImportError:
        raise DeviceError("CuPy arrays need the array-api-compat package: "
                          "pip install chainrule[gpu]") from None
    return ns


def library_name(ns: Any) -> str:
    """The array library a namespace belongs to, for messages ("numpy", "cupy", ...)."""
    if ns is NUMPY:
        return "cpu (numpy)"
    name = getattr(ns, "__name__", repr(ns))
    return "cuda (cupy)" if "cupy" in name else name


def dtype_name(dtype: Any) -> str:
    """A dtype's plain name on any library: ``"float32"``, ``"int64"``, ``"bool"``."""
    key = (type(dtype), dtype)  # the type first: libraries' dtypes never compare to each other
    name = _NAMES.get(key)
    if name is None:  # NumPy computes dtype.name in Python (microseconds): ask once per dtype
        name = getattr(dtype, "name", None)  # NumPy's and CuPy's dtypes
        name = _NAMES[key] = name if isinstance(name, str) else str(dtype).rpartition(".")[2]
    return name


_NAMES: dict[tuple, str] = {}


def is_floating(dtype: Any) -> bool:
    """Whether ``dtype`` is a real floating-point type, on any library."""
    kind = getattr(dtype, "kind", None)
    if kind is not None:
        return kind == "f"
    return dtype_name(dtype).startswith("float")


def dtype_in(xp: Any, dtype: Any) -> Any:
    """``dtype`` (a name such as ``"float32"``, a NumPy dtype or type, or a dtype of any
    library) as the dtype object of namespace ``xp``."""
    if xp is NUMPY:
        return numpy.dtype(dtype)
    name = dtype if isinstance(dtype, str) else dtype_name(
        numpy.dtype(dtype) if isinstance(dtype, type) else dtype)
    found = getattr(xp, name, None)
    if found is None:
        raise DeviceError(f"dtype {name!r} is not available on {library_name(xp)}")
    return found


def is_array(a: Any) -> bool:
    """Whether ``a`` is an array of some library (not a Python or NumPy scalar)."""
    return type(a) is ndarray or _is_cupy(a) or (hasattr(a, "__array_namespace__")
                                                 and not isinstance(a, numpy.generic))


def asarray_on(xp: Any, data: Any, dtype: Any = None) -> Any:
    """``data`` (numbers, nested lists, or an array already on ``xp``'s device) as an array of
    namespace ``xp``; an array of another library is a :class:`DeviceError`, not a silent copy
    between devices."""
    if is_array(data):
        ns = namespace(data)
        if ns is not xp:
            raise DeviceError(f"an array on {library_name(ns)} met tensors on "
                              f"{library_name(xp)}; move it with .to(device) first")
        return data if dtype is None or data.dtype == dtype else xp.astype(data, dtype)
    return xp.asarray(data, dtype=dtype)


# -- what the standard lacks ------------------------------------------------------------------

def sliding_windows(a: Any, window_shape: tuple[int, ...], axis: tuple[int, ...]) -> Any:
    """Every window of ``window_shape`` along ``axis``, as new trailing axes (NumPy's
    ``sliding_window_view``: a read-only view without a copy on NumPy and CuPy).

    >>> sliding_windows(numpy.arange(4), (2,), (0,)).tolist()
    [[0, 1], [1, 2], [2, 3]]
    """
    if type(a) is ndarray:
        return sliding_window_view(a, window_shape, axis=axis)
    if _is_cupy(a):
        from cupy.lib.stride_tricks import sliding_window_view as cupy_windows
        return cupy_windows(a, window_shape, axis=axis)
    # The standard has no strided views: stack the shifted slices (a copy).
    xp = namespace(a)
    out = a
    for k, ax in zip(window_shape, axis):
        n = out.shape[ax] - k + 1
        cut = [slice(None)] * out.ndim
        parts = []
        for i in range(k):
            cut[ax] = slice(i, i + n)
            parts.append(out[tuple(cut)])
        out = xp.stack(parts, axis=-1)
    return out


def add_at(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` in place, where repeated indices add up (NumPy's
    ``add.at``; CuPy's ``scatter_add``).

    >>> t = numpy.zeros(3); add_at(t, numpy.array([0, 0, 2]), numpy.ones(3)); t.tolist()
    [2.0, 0.0, 1.0]
    """
    if type(target) is ndarray:
        numpy.add.at(target, index, values)
        return
    if _is_cupy(target):
        import cupyx
        cupyx.scatter_add(target, index, values)
        return
    _add_at_standard(target, index, values)


def _add_at_standard(target: Any, index: Any, values: Any) -> None:
    # Only the standard's functions: flatten the indexed axes into one position per entry,
    # then sum the entries of each position with a one-hot matrix product.
    xp = namespace(target)
    index = index if isinstance(index, tuple) else (index,)
    lead = target.shape[:len(index)]
    rest = target.shape[len(index):]
    arrays = [i if is_array(i) else xp.asarray(i) for i in index]
    shape = arrays[0].shape
    for i in arrays[1:]:
        shape = xp.broadcast_shapes(shape, i.shape)
    flat = xp.zeros(shape, dtype=xp.int64)
    for i, n in zip(arrays, lead):
        i = xp.astype(i, xp.int64)
        flat = flat * n + xp.where(i < 0, i + n, i)
    flat = xp.reshape(flat, (-1,))
    m = 1
    for n in rest:
        m *= n
    vals = xp.reshape(xp.broadcast_to(values, (*shape, *rest)), (flat.shape[0], m))
    size = 1
    for n in lead:
        size *= n
    onehot = xp.astype(xp.arange(size)[:, None] == flat[None, :], target.dtype)
    target[...] = target + xp.reshape(onehot @ vals, target.shape)


def pad(a: Any, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """``a`` with ``widths[i] = (before, after)`` constant entries added along each axis (one
    write into a new array: faster than ``numpy.pad``, and in the standard)."""
    xp = namespace(a)
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths))
    out = xp.full(shape, value, dtype=a.dtype) if value else xp.zeros(shape, dtype=a.dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))] = a
    return out


def errstate(xp: Any, **how: str) -> Any:
    """NumPy's ``errstate`` for NumPy arrays (the other libraries do not warn)."""
    return numpy.errstate(**how) if xp is NUMPY else contextlib.nullcontext()
