"""The course's networks written exactly as the notes write them, in plain NumPy.

These are reference implementations to read beside the lecture notes and to test the engine
against; they are not the fast path (use :mod:`chainrule.nn` for real work).

* :mod:`~chainrule.textbook.columns`: the one-hidden-layer classifier, examples as columns,
  ``X`` of shape (n_x, m) (``initialize_parameters``, ``forward_propagation``,
  ``compute_cost``, ``backward_propagation``, ``update_parameters``, ``predict``, ``train``);
* :mod:`~chainrule.textbook.rows`: the same network, examples as rows, ``X`` of shape (n, d);
* :mod:`~chainrule.textbook.deep`: any number of layers and the delta recursion;
* :class:`ThreeLayerNet`: the sigmoid network with squared error, ``loss(X, y)`` returning
  ``(loss, grads)``.

>>> import numpy as np
>>> from chainrule import textbook
>>> p = textbook.columns.initialize_parameters(2, 3)
>>> A2, cache = textbook.columns.forward_propagation(np.ones((2, 5)), p)
>>> A2.shape, sorted(cache)
((1, 5), ['A1', 'A2', 'Z1', 'Z2'])
"""

from . import columns, deep, rows
from .three_layer import ThreeLayerNet

__all__ = ["ThreeLayerNet", "columns", "deep", "rows"]
