"""build_mlp and get_optimizer answer bad arguments with a ConfigError naming the argument,
never a raw TypeError or ValueError, and never silently read a float or a string as sizes."""

from __future__ import annotations

import re

import pytest

from chainrule.errors import ConfigError
from chainrule.training.registry import build_mlp, get_optimizer


@pytest.mark.parametrize("args, named", [
    ((2, ["a"], 1), "hidden[0]"),
    ((2, [3, None], 1), "hidden[1]"),
    ((2, [3.7], 1), "hidden[0]"),      # int() would cut it to 3
    ((2.5, [3], 1), "n_inputs"),
    ((True, [3], 1), "n_inputs"),      # int() would read it as 1
    ((2, [3], None), "n_outputs"),
    ((2, [3], "1"), "n_outputs"),
    ((2, [0], 1), "hidden[0]"),
    ((2, "12", 1), "hidden"),          # iterated, it would build layers of 1 and 2 units
    ((2, 5, 1), "hidden"),
    ((2, None, 1), "hidden"),
])
def test_build_mlp_names_the_bad_size(args, named) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"build_mlp: {named} must be")):
        build_mlp(*args)


def test_build_mlp_refuses_an_initialiser_name_of_the_wrong_type() -> None:
    with pytest.raises(ConfigError, match="unknown initialiser"):
        build_mlp(2, [3], 1, init=["he"])


def test_get_optimizer_names_an_unknown_option_and_lists_the_valid_ones() -> None:
    params = build_mlp(2, [3], 1, rng=0).parameters()
    with pytest.raises(ConfigError, match="SGD has no option mometum; its options are lr, "
                                          "momentum"):
        get_optimizer("sgd", params, mometum=0.9)


@pytest.mark.parametrize("params, says", [(5, "got int"),
                                          (build_mlp(2, [3], 1, rng=0), "model.parameters")])
def test_get_optimizer_refuses_what_is_not_a_list_of_tensors(params, says) -> None:
    with pytest.raises(ConfigError, match=says):
        get_optimizer("adam", params)
