"""Options shared by the commands: the parser that reports a bad command line as one line and
a hint, options built from the job spec's fields (:mod:`chainrule.job`), and the data options
every command that reads a table takes.

A field of :class:`chainrule.job.TrainConfig` declares its flag, parser, help and rule once
(:class:`chainrule.job.Flag`); :func:`add_flags` turns any list of them into argparse options
and :func:`job_from` turns the parsed options back into the config, so neither lists the
options by name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from ..errors import ConfigError
from ..job import NOT_GIVEN, Flag, TrainConfig, flags
from .report import printable, usage_error

__all__ = ["DATA", "Parser", "add_command", "add_flags", "argument_type", "data_options",
           "job_from", "text_type"]

FORMAT = argparse.RawDescriptionHelpFormatter
DATA = ("data", "dataset", "target", "delimiter")  # the job spec's fields a table is read by


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line plus a hint (exit status 2)."""

    def error(self, message: str) -> Any:
        usage_error(self.prog, message)


def add_command(sub: Any, name: str, help: str, description: str,  # noqa: A002
                epilog: str | None = None) -> argparse.ArgumentParser:
    """The parser of the subcommand ``name``, formatted as every command's help is."""
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=FORMAT)


def text_type(parse: Callable[[str], Any], flag: str = "") -> Any:
    """``parse`` (text to value, ConfigError when not one) as an argparse ``type``: argparse
    names the option, so a message that starts with ``flag`` drops it."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as err:
            message = str(err)
            if flag and message.startswith(flag):
                message = message.removeprefix(flag).lstrip(": ")
            raise argparse.ArgumentTypeError(message) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def argument_type(flag: Flag) -> Any:
    """``flag``'s parser and rule as an argparse ``type``."""
    return text_type(flag.convert, flag.name)


class MergePairs(argparse.Action):
    """label=value pairs given again add to the earlier ones (as --drop adds columns); a
    label named twice, or a word such as 'balanced' beside pairs, is refused, not
    overridden."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is None:
            setattr(namespace, self.dest, values)
            return
        if isinstance(before, str) or isinstance(values, str):
            word = before if isinstance(before, str) else values
            parser.error(f"{option_string} {word} cannot be combined with label=weight pairs "
                         "or given twice; give one of them")
        for label in values:
            if label in before:
                parser.error(f"{option_string} names the class {printable(label)} twice "
                             f"({label}={before[label]:g} and {label}={values[label]:g}); give "
                             "each class one weight")
        setattr(namespace, self.dest, {**before, **values})


_ACTIONS = {"boolean": argparse.BooleanOptionalAction, "merge": MergePairs}


def add_flags(parser: argparse.ArgumentParser, declared: Iterable[tuple[str, Flag]],
              required: bool = False, defaults: bool = False,
              notes: dict[str, str] | None = None) -> None:
    """Add each (dest, :class:`Flag`) to ``parser``, in its help group (made on first use,
    with its line from ``notes``); one of each ``exclusive`` set is needed if ``required``.
    An option not given is absent from the namespace (the field keeps its own default)
    unless ``defaults``, or its flag has a command-line default."""
    groups: dict[str | None, Any] = {None: parser}
    exclusive: dict[str, Any] = {}
    for dest, flag in declared:
        if flag.group not in groups:
            groups[flag.group] = parser.add_argument_group(flag.group,
                                                           (notes or {}).get(flag.group))
        where = groups[flag.group]
        if flag.exclusive:
            if flag.exclusive not in exclusive:
                exclusive[flag.exclusive] = where.add_mutually_exclusive_group(required=required)
            where = exclusive[flag.exclusive]
        how: dict[str, Any] = {"dest": dest, "help": flag.help,
                               "action": _ACTIONS.get(flag.action, flag.action)}
        if flag.default is not NOT_GIVEN:
            how["default"] = flag.default
        elif not defaults:
            how["default"] = argparse.SUPPRESS
        if flag.action == "store_const":
            how["const"] = flag.const
        if flag.action not in ("store_true", "store_false", "store_const", "boolean"):
            how["metavar"] = flag.metavar
            how["choices"] = flag.choices
            # with choices, argparse's own check names them; a rule would only repeat it
            if flag.parse or (flag.check and not flag.choices):
                how["type"] = argument_type(flag)
        where.add_argument(*flag.flags, **how)


def data_options(parser: argparse.ArgumentParser, required: bool) -> None:
    """--data or --dataset (one of them if ``required``), --target and --delimiter."""
    declared = dict((f.name, flag) for f, flag in flags())
    add_flags(parser, [(name, declared[name]) for name in DATA], required, defaults=True)


def job_from(args: argparse.Namespace, **changes: Any) -> TrainConfig:
    """The :class:`TrainConfig` the parsed options ``args`` describe (fields not given keep
    their defaults), with ``changes``."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    return TrainConfig(**{**given, **changes})
