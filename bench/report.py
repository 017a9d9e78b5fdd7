"""The results tables, the targets with pass/fail, and BENCHMARKS.md."""

from __future__ import annotations

from typing import Any

from .machine import cpu_line

# chainrule must be this many times faster than the peer (ratios within a round).
TARGETS: dict[str, dict[str, float]] = {
    "W0": {"torch": 4.0, "jax": 1.0},
    "W1": {"torch": 3.0, "jax": 1.0},
    "W2": {"torch": 1.5, "jax": 1.0},
    "W3": {"torch": 1.2, "jax": 1.0},
    "W4": {"torch": 3.0, "jax": 1.0},
    "W5": {"torch": 1.2, "torch-cl": 1.0},
    "W6": {"torch": 1.0},
}
# The compiled paths: cr.compile stepped from Python against JAX's jitted step and its whole
# round in one loop; fit(compile=True), whose epochs run in one kernel call, against the latter.
COMPILED_TARGETS: dict[str, dict[str, dict[str, float]]] = {
    "chainrule-compiled": {"W0": {"jax": 3.0, "jax-epoch": 1.0},
                           "W1": {"jax": 3.0, "jax-epoch": 1.0}, "W4": {"jax": 1.0}},
    "chainrule-fit": {"W0": {"jax-epoch": 1.0}, "W1": {"jax-epoch": 1.0},
                      "W4": {"jax-epoch": 1.0}},
}
MEMORY_TARGET = 1.2   # W3 peak RSS of a full run: chainrule <= 1.2 x PyTorch
BEFORE = "chainrule-before"
COMPILED = "chainrule-compiled"
FIT = "chainrule-fit"
ORDER = ("chainrule", COMPILED, FIT, BEFORE, "numpy", "torch", "torch-cl", "jax", "jax-epoch",
         "sklearn")
COLUMNS = ("workload", "peer", "us/step", "spread", "samples/s", "GFLOP/s", "% peak",
           "vs torch", "vs torch-cl", "vs jax", "vs jax-epoch", "peak RSS MiB", "loss", "acc")


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def rows(results: dict[str, Any]) -> list[list[str]]:
    peak = results["peak_gflops"]
    out = []
    for w in results["workloads"]:
        for name in ORDER:
            d = w["peers"].get(name)
            if d is None:
                continue
            out.append([
                w["name"], name, _us(d["step_seconds"]), f"{d['spread']:.2f}",
                f"{d['samples_per_s']:,.0f}", f"{d['gflops']:.3g}",
                f"{100 * d['gflops'] / peak:.1f}%", _x(d.get("vs_torch")),
                _x(d.get("vs_torch-cl")), _x(d.get("vs_jax")),
                _x(d.get("vs_jax-epoch")), f"{d['peak_rss_mb']:.0f}", f"{d['loss']:.4f}",
                f"{100 * d['acc']:.1f}%",
            ])
    return out


def before_after(results: dict[str, Any]) -> list[list[str]]:
    """[workload, before us, after us, after vs before, before vs torch, after vs torch,
    before vs jax, after vs jax] where both chainrules ran."""
    out = []
    for w in results["workloads"]:
        a, b = w["peers"].get("chainrule"), w["peers"].get(BEFORE)
        if a is None or b is None:
            continue
        out.append([w["name"], _us(b["step_seconds"]), _us(a["step_seconds"]),
                    _x(a.get(f"vs_{BEFORE}")), _x(b.get("vs_torch")), _x(a.get("vs_torch")),
                    _x(b.get("vs_jax")), _x(a.get("vs_jax"))])
    return out


BEFORE_AFTER_COLUMNS = ("workload", "before us/step", "after us/step", "after vs before",
                        "before vs torch", "after vs torch", "before vs jax", "after vs jax")


def targets(results: dict[str, Any]) -> list[list[str]]:
    """[workload, criterion, target, measured, PASS/FAIL/n/a] for every target: eager
    chainrule, and the captured step (``cr.compile``) where it ran."""
    out = []
    by_name = {w["name"]: w for w in results["workloads"]}

    def check(name: str, mode: str, key: str, tgt: dict[str, float], always: bool) -> None:
        w = by_name.get(name)
        cr = None if w is None else w["peers"].get(key)
        if cr is None and not always:
            return
        for ref, need in tgt.items():
            got = None if cr is None else cr.get(f"vs_{ref}")
            verdict = "n/a" if got is None else ("PASS" if got >= need else "FAIL")
            out.append([name + mode, f"faster than {ref}", f">= {need:g}x", _x(got), verdict])

    for name, tgt in TARGETS.items():
        check(name, "", "chainrule", tgt, True)
        for key, table in COMPILED_TARGETS.items():
            if name in table:
                check(name, f" ({key.removeprefix('chainrule-')})", key, table[name], False)
    w3 = by_name.get("W3", {"peers": {}})["peers"]
    c, t = w3.get("chainrule", {}), w3.get("torch", {})
    if "peak_rss_mb" in c and "peak_rss_mb" in t:
        ratio = c["peak_rss_mb"] / t["peak_rss_mb"]
        out.append(["W3", "peak RSS vs torch", f"<= {MEMORY_TARGET}x", f"{ratio:.2f}x",
                    "PASS" if ratio <= MEMORY_TARGET else "FAIL"])
    return out


def _text_table(header, body) -> str:
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).rjust(n) if i > 1 else str(c).ljust(n)
                              for i, (c, n) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), fmt(["-" * n for n in widths]), *map(fmt, body)])


def _md_table(header, body) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _workload_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for w in results["workloads"]:
        rounds = [x for d in w["peers"].values() for x in d["rounds"]]
        if rounds:
            la = [x["loadavg"] for x in rounds]
            load = (f"load avg {min(la):.2f}-{max(la):.2f}; rounds redone "
                    f"{sum(x['redone'] for x in rounds)}, accepted while loaded "
                    f"{sum(x['loaded'] for x in rounds)}")
        else:
            load = "nothing ran"
        lines.append(
            f"{w['name']}: {w['title']} ({w['arch']}; {w['note']}); full run "
            f"{w['full_steps']} steps, timed rounds of {w['round_steps']} steps; untrained loss "
            f"{w['init_loss']:.4f}, acc {100 * w['init_acc']:.1f}%; {load}")
        for key, why in w.get("skipped", {}).items():
            lines.append(f"  {w['name']} {key} skipped: {why}")
    return lines


def _header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    v = m["versions"]
    out = [
        f"date {results['date']}; command `{results['command']}`",
        f"chainrule engine at {m.get('engine_revision', 'unknown')}"
        + (f"; before: {results['before']['src']} (engine at "
           f"{results['before']['engine_revision']})" if results.get("before") else ""),
        f"machine {m['cpu']} ({m.get('simd', 'SIMD level unknown')}), {m['cores']} cores "
        f"({m['platform']}); Python {v['python']}, "
        f"NumPy {v['numpy']}, PyTorch {v['torch']}, JAX {v['jax']}, scikit-learn "
        f"{v['scikit-learn']}",
        f"NumPy BLAS in each peer's process: {results['blas']} (OPENBLAS_CORETYPE and "
        f"OPENBLAS_L2_SIZE unset for them; the runner had {results['runner_blas_env']})",
        f"float32 matmul peak (NumPy, same environment) {results['peak_gflops']:.1f} GFLOP/s; "
        f"load avg {results['loadavg_start'][0]:.2f} at start, {results['loadavg_end'][0]:.2f} "
        f"at end; {results['rounds']} rounds; {results['elapsed_s']:.0f} s",
    ]
    return out


def text_report(results: dict[str, Any]) -> str:
    cpu = cpu_line(results["machine"], results.get("blas"))
    out = ["", "chainrule benchmark", *_header(results),
           "'vs X': how many times faster than X (median of per-round ratios); spread: slowest "
           "/ fastest round; loss/acc: final weights of the full run on the training data", "",
           cpu, _text_table(COLUMNS, rows(results)), "", *_workload_lines(results)]
    ba = before_after(results)
    if ba:
        out += ["", "before / after:", cpu, _text_table(BEFORE_AFTER_COLUMNS, ba)]
    out += ["", "targets:", _text_table(
        ["workload", "criterion", "target", "measured", "verdict"], targets(results))]
    return "\n".join(out)


def write_markdown(results: dict[str, Any], path: str) -> None:
    t = targets(results)
    passed = sum(r[-1] == "PASS" for r in t)
    text = [
        "# Benchmarks",
        "",
        "chainrule against PyTorch eager, JAX (`jax.jit` of the training step, stepped from "
        "Python; and the whole round as one `lax.fori_loop`), a hand-written vectorised NumPy "
        "MLP and, on request, scikit-learn's `MLPClassifier`. Each measurement is a fresh "
        "process per library. Regenerate with:",
        "",
        "```bash",
        "python bench/run.py --write            # about 20 minutes on 2 cores",
        "python bench/run.py --before OLD/src   # adds a before/after table against another "
        "checkout",
        "```",
        "",
        *[f"- {line}" for line in _header(results)],
        "",
        "## Results",
        "",
        "`vs X`: how many times faster than X (the median over rounds of the ratio within a "
        "round; above 1 is faster). `spread`: slowest round / fastest round (above 1.3 the "
        "machine was busy for some rounds: trust that row less). GFLOP/s counts 6 x "
        "multiply-adds of the conv and linear layers per sample; `% peak` is that against the "
        "measured matmul peak. `peak RSS`: the full run's process (imports, data and model "
        "included). `loss`/`acc`: the final weights of a full run, evaluated on the training "
        "data by one shared evaluator.",
        "",
        cpu_line(results["machine"], results.get("blas")),
        "",
        _md_table(COLUMNS, rows(results)),
        "",
        *[f"- {line}" for line in _workload_lines(results)],
        "",
    ]
    ba = before_after(results)
    if ba:
        text += ["## Before and after", "",
                 f"chainrule now against chainrule from `{results['before']['src']}` (engine at "
                 f"{results['before']['engine_revision']}), same harness, same rounds.", "",
                 _md_table(BEFORE_AFTER_COLUMNS, ba), ""]
    text += [
        f"## Targets ({passed} of {len(t)} met)",
        "",
        _md_table(["workload", "criterion", "target", "measured", "verdict"], t),
        "",
        "## Method",
        "",
        "- Same data, same initial weights, same minibatches for every library (scikit-learn "
        "shuffles with its own generator: same sizes and step count). W0 is the course's 2-4-1 "
        "network on the flower data set with N(0, 0.01) weights; W1 scikit-learn's digits; "
        "W2-W4 Gaussian inputs labelled by a random teacher network, He-uniform weights; W5-W6 "
        "the same for 1x28x28 images through LeNet-5 (conv 6@5x5 pad 2, pool, conv 16@5x5, "
        "pool, 120, 84, 10; W6 with BatchNorm2d after each conv). W7-W8: character models "
        "predicting the next of 12 tokens (27 symbols) at every position, trained on US census "
        "first names, PyTorch's default initialisation: W7 Embedding(27, 16), GRU(16, 64), "
        "Linear(64, 27); W8 token and learned position embeddings of 64, two pre-norm "
        "`TransformerEncoderLayer(64, 4, 256)` with a causal mask, Linear(64, 27); FLOPs count "
        "the matmuls of the recurrence and the attention.",
        "- chainrule through its public API only (`cr.Tensor`, `nn`, `optim`), float32, eager; "
        "`chainrule-compiled` wraps the same step in `cr.compile` (its first step, the capture, "
        "is left out of the time like JAX's compilation); `chainrule-fit` trains with "
        "`cr.fit(compile=True)` (a Trainer, one `fit` call per epoch over the runner's batches, "
        "shuffling off), whose epochs run in one kernel call with numba. "
        "PyTorch: `nn.Sequential`, `BCEWithLogitsLoss`/`CrossEntropyLoss`, `torch.optim`, "
        "2 threads. JAX: loss, gradient and update in one `jax.jit` with donated buffers, "
        "NumPy minibatches passed in from Python; `jax-epoch` runs the whole round in one "
        "compiled `lax.fori_loop` with the data on the device (the limit of compilation, not "
        "a target for a step driven from Python).",
        "- Every measurement is a fresh process, peers in turn, the order rotating each round; "
        "`OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` are removed from those processes (some "
        "machines pin OpenBLAS to AVX2 kernels; a user's machine does not), and the matmul "
        "peak is measured the same way. Each process warms up with one untimed round (JAX "
        "compiles there); a calibration task before and after the timed round redoes it while "
        "the machine is loaded. Reported: medians. Absolute times on a shared machine are "
        "noisy: read the ratios.",
        "- Where chainrule's time goes: `python bench/profile.py W0` (any workload).",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(text))
