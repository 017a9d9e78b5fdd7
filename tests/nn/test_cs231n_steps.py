"""The recurrent cells against cs231n assignment 3's published step values (the
rnn_step_forward and lstm_step_forward checks of its captioning notebooks), the inputs rebuilt
from the notebooks' linspace recipes and the weights laid out as PyTorch's cells hold them."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn


def _set(cell, **arrays):
    cell.load_state_dict(arrays)  # onto the parameters' device, whichever it is


def test_rnn_step_forward_matches_cs231n():
    N, D, H = 3, 10, 4
    x = np.linspace(-0.4, 0.7, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.2, 0.5, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.1, 0.9, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.3, 0.7, num=H * H).reshape(H, H)
    b = np.linspace(-0.2, 0.4, num=H)
    cell = nn.RNNCell(D, H, dtype="float64")
    _set(cell, weight_ih=Wx.T, weight_hh=Wh.T, bias_ih=b, bias_hh=np.zeros(H))
    next_h = cell(cr.tensor(x), cr.tensor(prev_h)).numpy()
    expected = np.asarray([[-0.58172089, -0.50182032, -0.41232771, -0.31410098],
                           [0.66854692, 0.79562378, 0.87755553, 0.92795967],
                           [0.97934501, 0.99144213, 0.99646691, 0.99854353]])
    np.testing.assert_allclose(next_h, expected, atol=1e-8)


def test_lstm_step_forward_matches_cs231n():
    N, D, H = 3, 4, 5
    x = np.linspace(-0.4, 1.2, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.3, 0.7, num=N * H).reshape(N, H)
    prev_c = np.linspace(-0.4, 0.9, num=N * H).reshape(N, H)
    Wx = np.linspace(-2.1, 1.3, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.7, 2.2, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.3, 0.7, num=4 * H)
    # cs231n stacks the gates i, f, o, g; PyTorch (and chainrule) i, f, g, o
    order = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
    cell = nn.LSTMCell(D, H, dtype="float64")
    _set(cell, weight_ih=Wx[:, order].T, weight_hh=Wh[:, order].T, bias_ih=b[order],
         bias_hh=np.zeros(4 * H))
    next_h, _ = cell(cr.tensor(x), (cr.tensor(prev_h), cr.tensor(prev_c)))
    expected = np.asarray([[0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
                           [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
                           [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]])
    np.testing.assert_allclose(next_h.numpy(), expected, atol=1e-8)
