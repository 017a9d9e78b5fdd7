"""bench/fit_once.py runs and reports one fit call's time per step."""

from __future__ import annotations

import pytest

from bench import fit_once


def test_one_fit_call_is_timed(capsys: pytest.CaptureFixture[str]) -> None:
    assert fit_once.main(["W0", "5"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("W0: one fit call of 5 epochs (5 steps): ") and "us a step" in line
