"""chainrule's peers: eager (the public API only: ``cr.Tensor``, ``nn``, ``optim``; float32) and
``chainrule-compiled``, the same step wrapped in ``cr.compile`` (the captured plan replayed with
preallocated buffers, as ``cr.fit(compile=True)`` does; the MLP workloads only)."""

from __future__ import annotations

import time

import numpy as np

from . import sequences
from .peer import Peer, pairs, sequence_loss
from .workloads import Weights, Workload, layers


class ChainrulePeer(Peer):
    name = "chainrule"
    label = "chainrule (float32)"
    sequences = True
    CONV = ("Conv2d", "MaxPool2d", "BatchNorm2d", "Flatten")
    SEQUENCE = ("Embedding", "GRU", "TransformerEncoderLayer", "generate_square_subsequent_mask")

    def available(self, wl):
        if wl.net == "mlp":
            return None
        import chainrule

        need = self.SEQUENCE if wl.sequence else self.CONV
        missing = [n for n in need if not hasattr(chainrule.nn, n)]
        if missing:
            return f"chainrule {chainrule.__version__} has no nn.{', nn.'.join(missing)} yet"
        return None

    devices = ("cpu", "cuda", "array_api_strict")

    def missing_device(self):
        why = super().missing_device()
        if why or self.device == "cpu":
            return why
        import chainrule

        try:
            chainrule.tensor([0.0], device=self.device)
        except chainrule.ChainruleError as err:
            return f"chainrule: {err}"
        return None

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        import chainrule

        self.cr = chainrule
        if self.device != "cpu":
            # The data lives on the device (as the torch peer's does); minibatches are taken
            # there with index arrays moved once, before the clock starts.
            self.X = chainrule.tensor(X, device=self.device).data
            self.y = chainrule.tensor(y, device=self.device).data
            from chainrule.engine.backend import namespace

            self.xp = namespace(self.X)

    def _device_batches(self, batches):
        if self.device == "cpu" or batches is None:
            return batches
        return [self.xp.asarray(self.cr.tensor(idx, device=self.device).data)
                for idx in batches]

    def _take(self, a, idx):
        return a[idx] if self.device == "cpu" else self.xp.take(a, idx, axis=0)

    def _finish(self, loss, t0: float) -> float:
        """Seconds since ``t0``, once the device has finished (reading the loss waits)."""
        if self.device != "cpu":
            loss.item()
        seconds = time.perf_counter() - t0
        loss.item()
        return seconds

    def build(self, wl: Workload, weights: Weights):
        cr = self.cr
        nn = cr.nn
        if wl.sequence:
            model = sequences.build_chainrule(cr, wl.net, weights)
            if self.device != "cpu":
                model.to(self.device)
            loss_fn = sequence_loss(nn.functional.cross_entropy)
            return model, loss_fn, self._optimizer(wl, model)
        mods = []
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
        if wl.out == "sigmoid":
            mods.append(nn.Sigmoid())
            loss_fn = nn.BCELoss()
        else:
            loss_fn = nn.CrossEntropyLoss()
        model = nn.Sequential(*mods)
        names = [name for name, _ in model.named_parameters()]
        state = model.state_dict()  # buffers (BatchNorm's statistics) keep their start values
        state.update(zip(names, [a for pair in weights for a in pair]))
        model.load_state_dict(state)
        if self.device != "cpu":
            model.to(self.device)
        return model, loss_fn, self._optimizer(wl, model)

    def _optimizer(self, wl: Workload, model):
        if wl.optimizer == "sgd":
            return self.cr.optim.SGD(model.parameters(), lr=wl.lr)
        return self.cr.optim.Adam(model.parameters(), lr=wl.lr)

    def _weights(self, wl: Workload, model) -> Weights:
        if self.device != "cpu":
            model.to("cpu")
        if wl.sequence:
            return sequences.grouped(wl.net, model.state_dict())
        return pairs([p.data for p in model.parameters()])

    def train(self, wl, weights, n, epochs, batches):
        cr = self.cr
        model, loss_fn, opt = self.build(wl, weights)
        X, y = self.X, self.y
        take = self._take
        if batches is None:
            xt, yt = cr.Tensor(X[:n, ...]), y[:n, ...]
            t0 = time.perf_counter()
            for _ in range(epochs):
                opt.zero_grad()
                loss = loss_fn(model(xt), yt)
                loss.backward()
                opt.step()
        else:
            Xn, yn = X[:n, ...], y[:n, ...]   # (the array API indexes every axis)
            batches = self._device_batches(batches)
            t0 = time.perf_counter()
            for idx in batches:
                opt.zero_grad()
                loss = loss_fn(model(cr.Tensor(take(Xn, idx))), take(yn, idx))
                loss.backward()
                opt.step()
        seconds = self._finish(loss, t0)
        return seconds, self._weights(wl, model)


class ChainruleCompiledPeer(ChainrulePeer):
    """chainrule's captured step: the user's step function wrapped by ``cr.compile``."""

    name = "chainrule-compiled"
    label = "chainrule cr.compile (float32)"
    sequences = False
    devices = ("cpu",)

    def available(self, wl):
        if wl.net != "mlp":
            return "cr.compile replays chains of Linear layers and activations only"
        import chainrule

        return None if hasattr(chainrule, "compile") else \
            f"chainrule {chainrule.__version__} has no cr.compile yet"

    def train(self, wl, weights, n, epochs, batches):
        cr = self.cr
        model, loss_fn, opt = self.build(wl, weights)

        def step(xb, yb):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            return loss

        # The first step captures the plan (an eager step plus the check against it): like
        # JAX's compilation it is left out of the time, which is scaled to every step.
        fast = cr.compile(step, optimizer=opt)
        X, y = self.X, self.y
        if batches is None:
            xt, yt = cr.Tensor(X[:n, ...]), y[:n, ...]
            loss = fast(xt, yt)
            t0 = time.perf_counter()
            for _ in range(epochs - 1):
                loss = fast(xt, yt)
            steps = epochs
        else:
            Xn, yn = X[:n], y[:n]
            loss = fast(cr.Tensor(Xn[batches[0]]), yn[batches[0]])
            t0 = time.perf_counter()
            for idx in batches[1:]:
                loss = fast(cr.Tensor(Xn[idx]), yn[idx])
            steps = len(batches)
        seconds = (time.perf_counter() - t0) * steps / max(steps - 1, 1)
        if not fast.compiled:
            raise RuntimeError(f"cr.compile ran eagerly: {fast.reason}")
        float(loss)
        return seconds, pairs([p.data for p in model.parameters()])


class ChainruleFitPeer(ChainruleCompiledPeer):
    """``cr.fit(compile=True)``: the training loop with its compiled epochs (the epoch's
    batches in one kernel call where numba is installed).  To train on the runner's very
    batches, one Trainer takes each epoch's rows in the runner's order (``shuffle=False``):
    one ``Trainer.fit`` call per epoch, its preparation of the data included in the time."""

    name = "chainrule-fit"
    label = "chainrule cr.fit(compile=True) (float32)"

    def train(self, wl, weights, n, epochs, batches):
        cr = self.cr
        model, loss_fn, opt = self.build(wl, weights)
        trainer = cr.training.Trainer(model, loss=loss_fn, optimizer=opt, shuffle=False,
                                      compile=True, verbose=0,
                                      batch_size=None if batches is None else wl.batch)
        X, y = self.X[:n], self.y[:n]
        if batches is None:
            t0 = time.perf_counter()
            trainer.fit(X, y, epochs)
        else:
            per_epoch = -(-n // wl.batch)
            orders = [np.concatenate(batches[e:e + per_epoch])
                      for e in range(0, len(batches), per_epoch)]
            t0 = time.perf_counter()
            for order in orders:
                trainer.fit(X[order], y[order], 1)
        seconds = time.perf_counter() - t0
        if trainer.compiled is None or not trainer.compiled.plans:
            raise RuntimeError("cr.fit(compile=True) captured no plan")
        return seconds, pairs([p.data for p in model.parameters()])
