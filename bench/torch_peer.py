"""PyTorch eager, float32, ``torch.set_num_threads(2)``: what a PyTorch user writes; and
``torch-cl``, the same with the conv nets in channels_last memory format (the layout PyTorch's
CPU convolutions run fastest in: model and each batch converted, as its tutorial says)."""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from . import sequences
from .peer import Peer, pairs, sequence_loss
from .workloads import Weights, Workload, layers


class TorchPeer(Peer):
    name = "torch"
    label = "PyTorch eager (float32, 2 threads)"
    sequences = True

    def available(self, wl):
        if importlib.util.find_spec("torch") is None:
            return "PyTorch is not installed"
        return None

    devices = ("cpu", "cuda")

    def missing_device(self):
        why = super().missing_device()
        if why or self.device == "cpu":
            return why
        import torch

        if not torch.cuda.is_available():
            return (f"PyTorch {torch.__version__} finds no CUDA GPU (a CPU-only build, or no "
                    "driver)")
        return None

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        import torch

        torch.set_num_threads(2)
        self.torch = torch
        self.dev = torch.device(self.device)
        self.Xt = torch.from_numpy(X).to(self.dev)
        self.yt = torch.from_numpy(y).to(self.dev)

    def build(self, wl: Workload, weights: Weights):
        torch = self.torch
        nn = torch.nn
        if wl.sequence:
            model = sequences.build_torch(torch, wl.net, weights).to(self.dev)
            return model, sequence_loss(nn.functional.cross_entropy), self._optimizer(wl, model)
        mods: list = []
        for spec in layers(wl):
            kind = spec[0]
            if kind == "linear":
                mods.append(nn.Linear(spec[1], spec[2]))
            elif kind == "conv":
                mods.append(nn.Conv2d(spec[1], spec[2], spec[3], padding=spec[4]))
            elif kind == "bn":
                mods.append(nn.BatchNorm2d(spec[1]))
            elif kind == "pool":
                mods.append(nn.MaxPool2d(spec[1]))
            elif kind == "flatten":
                mods.append(nn.Flatten())
            else:
                mods.append(nn.ReLU() if kind == "relu" else nn.Tanh())
        model = nn.Sequential(*mods)
        with torch.no_grad():
            for p, a in zip(model.parameters(), [a for pair in weights for a in pair]):
                p.copy_(torch.from_numpy(np.array(a)))
        # What a PyTorch user writes: the sigmoid folded into the loss.
        loss_fn = nn.BCEWithLogitsLoss() if wl.out == "sigmoid" else nn.CrossEntropyLoss()
        model.to(self.dev)
        return model, loss_fn, self._optimizer(wl, model)

    def _batch(self, xb):
        """A minibatch as the model takes it (the default layout: as it is)."""
        return xb

    def _optimizer(self, wl: Workload, model):
        if wl.optimizer == "sgd":
            return self.torch.optim.SGD(model.parameters(), lr=wl.lr)
        return self.torch.optim.Adam(model.parameters(), lr=wl.lr)

    def train(self, wl, weights, n, epochs, batches):
        torch = self.torch
        model, loss_fn, opt = self.build(wl, weights)
        Xn, yn = self.Xt[:n], self.yt[:n]
        if batches is None:
            t0 = time.perf_counter()
            for _ in range(epochs):
                opt.zero_grad()
                loss = loss_fn(model(Xn), yn)
                loss.backward()
                opt.step()
        else:
            tb = [torch.from_numpy(idx).to(self.dev) for idx in batches]
            t0 = time.perf_counter()
            for idx in tb:
                opt.zero_grad()
                loss = loss_fn(model(self._batch(Xn[idx])), yn[idx])
                loss.backward()
                opt.step()
        if self.device != "cpu":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        loss.item()
        if wl.sequence:
            state = {k: v.detach().cpu().numpy() for k, v in model.named_parameters()}
            return seconds, sequences.grouped(wl.net, state)
        return seconds, pairs([p.detach().cpu().numpy() for p in model.parameters()])


class TorchChannelsLastPeer(TorchPeer):
    """PyTorch eager with the conv nets in channels_last (NHWC) memory format: the model
    converted once, each minibatch converted in the timed loop (what a user writes)."""

    name = "torch-cl"
    label = "PyTorch eager, channels_last (float32, 2 threads)"
    sequences = False

    def available(self, wl):
        why = super().available(wl)
        if why is None and wl.net not in ("lenet", "lenet-bn"):
            return "channels_last is a layout of images: the conv nets only"
        return why

    def build(self, wl: Workload, weights: Weights):
        model, loss_fn, opt = super().build(wl, weights)
        model.to(memory_format=self.torch.channels_last)
        return model, loss_fn, opt

    def _batch(self, xb):
        return xb.contiguous(memory_format=self.torch.channels_last)
