"""The job's rules name the options they concern as data (OptionError): Python reads the
argument names, the command line prints its flags, with the same words around them."""

import numpy as np
import pytest

from chainrule.cli.report import BAD_INPUT, exit_status, spell
from chainrule.errors import ConfigError, Option, OptionError
from chainrule.job import rules


@pytest.mark.parametrize("call, python, command_line", [
    (lambda: rules.task_for_loss("mse", "classification", 2, None),
     "loss='mse' on a classification target: use task='regression'",
     "--loss mse on a classification target: use --task regression"),
    (lambda: rules.needs_validation(0),
     "patience needs a validation split (val_split=0.2)",
     "--patience needs a validation split (--val-split 0.2)"),
    (lambda: rules.class_weights({"{z}": 1.0}, np.array([1.0, 2.0]), ["a", "b"]),
     "class_weight names the class '{z}'", "--class-weight names the class '{z}'"),
    (lambda: rules.task_of("regression", None, "y", "auto", 10**5, [10**5] * 2),
     "layers=[100000, 100000] gives", "--layers 100000,100000 gives"),
])
def test_a_rule_names_its_options_as_data(call, python, command_line):
    with pytest.raises(OptionError) as caught:
        call()
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value).startswith(python)
    assert caught.value.render(spell).startswith(command_line)


def test_the_command_line_reports_an_option_error_with_its_flags(capsys):
    err = OptionError("{patience} needs {val}", patience=Option("patience"),
                      val=Option("val_split", 0.2))
    assert exit_status(err, "train") == BAD_INPUT
    assert "chainrule: error: --patience needs --val-split 0.2" in capsys.readouterr().err
