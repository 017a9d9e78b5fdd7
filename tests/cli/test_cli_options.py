"""train's options come from the job spec's fields: one declaration per option, one rule per
value, the same from the command line and from Python."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from chainrule.cli import build_parser
from chainrule.cli.options import Parser, add_flags, job_from
from chainrule.errors import ConfigError
from chainrule.job import Flag, TrainConfig, flag_of, flags


def _train_parser() -> argparse.ArgumentParser:
    sub = build_parser()._subparsers._group_actions[0]
    return sub.choices["train"]


def test_every_field_of_the_job_spec_is_a_train_option() -> None:
    dests = {a.dest for a in _train_parser()._actions}
    assert {f.name for f in fields(TrainConfig)} <= dests
    assert dests - {f.name for f in fields(TrainConfig)} == {"help", "json"}


def test_no_options_give_the_default_job_with_progress() -> None:
    args = build_parser().parse_args(["train"])
    assert job_from(args) == TrainConfig(verbose=1)


def test_options_become_the_config_field_by_field() -> None:
    args = build_parser().parse_args(
        ["train", "--data", "d.csv", "--target", "y", "--layers", "8,4", "--batch-size",
         "full", "--no-plots", "-q", "--no-standardize", "--class-weight", "a=2",
         "--delimiter", "tab", "--lr", "0.5"])
    cfg = job_from(args)
    assert (cfg.data, cfg.target, cfg.layers, cfg.batch_size, cfg.plots, cfg.verbose,
            cfg.standardize, cfg.class_weight, cfg.delimiter, cfg.lr) == (
        "d.csv", "y", [8, 4], None, False, 0, False, {"a": 2.0}, "\t", 0.5)
    assert job_from(build_parser().parse_args(["train", "--json"]), verbose=0).verbose == 0


def test_a_new_option_is_one_field_declaration() -> None:
    # what adding a field with its metadata gives: a flag, its parser, its rule and its help
    flag = Flag(("--warmup",), "epochs of warm-up", group="training",
                parse=int, check=lambda v: v if v >= 0 else (_ for _ in ()).throw(
                    ConfigError(f"expected a count, got {v}")), metavar="N")
    p = Parser(prog="t")
    add_flags(p, [("warmup", flag)])
    assert p.parse_args(["--warmup", "3"]).warmup == 3
    assert not hasattr(p.parse_args([]), "warmup")  # not given: the field's own default
    assert "--warmup N" in p.format_help() and "epochs of warm-up" in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args(["--warmup", "-1"])


@pytest.mark.parametrize("name, value", [
    ("seed", -1), ("layers", [10**9]), ("unknown", "maybe"), ("class_weight", {"a": 1e308}),
    ("features", ["a", "a"]),
])
def test_a_value_is_checked_by_its_fields_one_rule(name: str, value: object) -> None:
    rule = flag_of(name).check
    with pytest.raises(ConfigError) as from_rule:
        rule(value)
    with pytest.raises(ConfigError) as from_python:
        TrainConfig(**{name: value}).check()
    assert str(from_rule.value) in str(from_python.value)
    assert flag_of(name).name in str(from_python.value)


def test_the_command_line_applies_the_same_rule(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["train", "--seed", str(2**32)])
    assert caught.value.code == 2
    with pytest.raises(ConfigError) as from_rule:
        flag_of("seed").check(2**32)
    assert f"argument --seed: {from_rule.value}" in capsys.readouterr().err


def test_flag_of_knows_the_library_names_and_lists_the_valid_ones() -> None:
    assert flag_of("validation_split").name == "--val-split"
    assert flag_of("batch_size").spell(None) == "full"
    with pytest.raises(ConfigError, match="no option named 'momentum'; the options are "):
        flag_of("momentum")


def test_the_fields_are_in_help_order() -> None:
    dests = [a.dest for a in _train_parser()._actions if a.dest not in ("help", "json")]
    assert dests == [f.name for f, _ in flags()]
