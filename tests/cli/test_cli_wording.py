"""The command line's words stay what they were before the job spec and the report module
took over: a refused count says 'positive number', and an option the job's rules refuse
(an OptionError, a ConfigError naming its flags) gets the hint every ConfigError gets."""

import pytest

from chainrule.cli.app import main
from chainrule.cli.report import exit_status
from chainrule.errors import DistributedError

CONFIG_HINT = "hint: see 'chainrule train --help' for the valid options"


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--patience",
                                  "--checkpoint-every"])
def test_a_count_below_one_is_refused_in_the_words_it_always_had(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", flag, "0"])
    assert stop.value.code == 2
    assert f"argument {flag}: expected a positive number, got 0" in capsys.readouterr().err


def test_a_count_that_is_no_whole_number_is_refused_as_before(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "2.5"])
    assert "argument --epochs: expected a whole number, got '2.5'" in capsys.readouterr().err


def test_data_without_target_gets_the_config_hint(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0\n2,1\n")
    assert main(["train", "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "chainrule: error: --data needs --target COL" in err
    assert CONFIG_HINT in err


def test_an_option_error_from_another_rank_gets_the_config_hint(capsys):
    stop = DistributedError("rank 1 of 2 could not start: OptionError: ...; every rank stopped")
    stop.origin = "OptionError"
    assert exit_status(stop, "train") == 1
    assert CONFIG_HINT in capsys.readouterr().err
