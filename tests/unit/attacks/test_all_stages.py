"""attacks.py's stage list (attacks/all_stages.py): the pipeline's order whatever the order asked,
every stage by default, and an unknown name refused with one line naming the choices."""

import pytest

from causal_unlearn.attacks.all_stages import STAGES, chosen_stages
from causal_unlearn.core.configs import compose_config
from causal_unlearn.core.errors import UserError


def test_every_stage_runs_by_default_in_the_pipeline_order():
    assert chosen_stages(compose_config("forget_mini.yaml", [])) == ["msj", "soft_embed", "judge"]
    assert list(STAGES) == ["msj", "soft_embed", "judge"]  # the judge last: it reads both attacks' outputs


def test_a_chosen_subset_keeps_the_pipeline_order():
    cfg = compose_config("forget_mini.yaml", ["attacks=[judge,msj]"])
    assert chosen_stages(cfg) == ["msj", "judge"]


def test_an_unknown_stage_is_refused_with_the_choices():
    cfg = compose_config("forget_mini.yaml", ["attacks=[msj,gcg]"])
    with pytest.raises(UserError, match=r"unknown stage\(s\) \['gcg'\].*msj.*soft_embed.*judge"):
        chosen_stages(cfg)
