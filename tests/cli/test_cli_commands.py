"""The command table: a command is one module (NAME, add_parser, run) named in COMMANDS."""

from __future__ import annotations

import argparse
import types

import pytest

from chainrule.cli import app, build_parser

EXPECTED = ["train", "evaluate", "predict", "info", "gradcheck", "demo", "export", "playground",
            "sample"]


def test_every_command_is_a_module_with_a_name_a_parser_and_a_run() -> None:
    assert list(app.COMMANDS) == EXPECTED  # the order the help lists them in
    for name, module in app.COMMANDS.items():
        assert name == module.NAME and module.__name__ == f"chainrule.cli.{name}"
        assert callable(module.add_parser) and callable(module.run)


def test_a_new_command_is_one_module_and_one_entry(monkeypatch, capsys) -> None:
    hello = types.ModuleType("hello")
    hello.NAME = "hello"

    def add_parser(sub: argparse._SubParsersAction) -> None:
        sub.add_parser("hello", help="say hello").add_argument("--to", default="world")

    hello.add_parser = add_parser
    hello.run = lambda args: print(f"hello {args.to}") or 0
    monkeypatch.setitem(app.COMMANDS, "hello", hello)
    assert app.main(["hello", "--to", "you"]) == 0
    assert capsys.readouterr().out == "hello you\n"
    assert "say hello" in build_parser().format_help()


def test_a_library_error_in_a_command_becomes_exit_status_1_and_a_hint(monkeypatch,
                                                                      capsys) -> None:
    from chainrule.errors import DataError

    def run(args: argparse.Namespace) -> int:
        raise DataError("row 3 has 2 values")

    monkeypatch.setattr(app.COMMANDS["info"], "run", run)
    assert app.main(["info", "m.safetensors"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["chainrule: error: row 3 has 2 values",
                   "hint: check the data file; 'chainrule info --help' shows the options for it"]


def test_a_bug_keeps_its_traceback(monkeypatch) -> None:
    def run(args: argparse.Namespace) -> int:
        raise KeyError("bug")

    monkeypatch.setattr(app.COMMANDS["info"], "run", run)
    with pytest.raises(KeyError):
        app.main(["info", "m.safetensors"])
