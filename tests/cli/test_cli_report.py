"""The one mapping from library errors and warnings to what the command says."""

from __future__ import annotations

import errno

import pytest

from chainrule.cli.report import (
    BAD_INPUT,
    INTERRUPTED,
    CLIError,
    exit_status,
    spell,
    warning_text,
)
from chainrule.errors import ConfigError, FileWriteError, ModelFileError, Option, OptionWarning


def test_an_option_warning_is_spelled_with_flags() -> None:
    w = OptionWarning("a batch of 64 from 10 rows; pass {full}, or a smaller {bs}; or hold "
                      "out less with {val}", full=Option("batch_size", None),
                      bs=Option("batch_size"), val=Option("validation_split"))
    assert warning_text(w) == ("a batch of 64 from 10 rows; pass --batch-size full, or a "
                               "smaller --batch-size; or hold out less with --val-split")
    assert "batch_size=None" in str(w)  # Python users read Python


def test_a_name_without_a_flag_stays_as_python_writes_it() -> None:
    assert spell(Option("momentum", 0.9)) == "momentum=0.9"
    assert spell(Option("lr", 0.01)) == "--lr 0.01"


def test_prose_warnings_are_one_line() -> None:
    assert warning_text("two\n  lines") == "two lines"


@pytest.mark.parametrize("err, status, hint", [
    (ConfigError("unknown loss 'hinge'"), BAD_INPUT, "see 'chainrule train --help'"),
    (ModelFileError("bad header"), BAD_INPUT, "is MODEL a .safetensors file"),
    (CLIError("diverged", "lower --lr", code=3), 3, "lower --lr"),
    (KeyboardInterrupt(), INTERRUPTED, None),
    (FileWriteError(errno.ENOSPC, "No space left on device", "out.csv"), BAD_INPUT,
     "free some space"),
])
def test_each_error_has_one_status_and_one_hint(err: BaseException, status: int,
                                                hint: str | None, capsys) -> None:
    assert exit_status(err, "train") == status
    lines = capsys.readouterr().err.splitlines()
    if hint is None:
        assert lines == ["chainrule: interrupted"]
    else:
        assert len(lines) == 2 and lines[0].startswith("chainrule: error: ")
        assert lines[1].startswith("hint: ") and hint in lines[1]


def test_anything_else_is_a_bug_and_is_raised() -> None:
    with pytest.raises(ZeroDivisionError):
        exit_status(ZeroDivisionError("x"), "train")
