"""The finetune stage's pure parts: which save_epochs are accepted, and the fingerprint they leave."""

import pytest
from omegaconf import OmegaConf, open_dict

from causal_unlearn.core.configs import compose_config
from causal_unlearn.core.errors import UserError
from causal_unlearn.unlearn.finetune import check_save_epochs, input_fingerprint


@pytest.mark.parametrize("epochs", [[], [1], [1, 3, 5]])
def test_whole_epochs_the_run_reaches_are_accepted(epochs):
    assert check_save_epochs(epochs, 5) == epochs


@pytest.mark.parametrize("entry", [0, 6, 2.5, True, "3"])
def test_an_epoch_the_run_does_not_end_is_refused_with_its_value(entry):
    with pytest.raises(UserError, match=f"save_epochs holds {entry}"):
        check_save_epochs([1, entry], 5)


def test_no_snapshots_keep_the_fingerprint_of_a_config_without_the_key():
    """Models cached before save_epochs existed stay current; asking for snapshots retrains."""
    cfg = compose_config("finetune_mini.yaml", ["model_family=tiny-random"])
    without_key = OmegaConf.create(OmegaConf.to_container(cfg))
    with open_dict(without_key):
        del without_key["save_epochs"]
    assert input_fingerprint(cfg) == input_fingerprint(without_key)
    assert input_fingerprint(compose_config("finetune_mini.yaml", ["model_family=tiny-random", "save_epochs=[2]"])) \
        != input_fingerprint(cfg)
