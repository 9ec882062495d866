"""The finetune stage's pure parts: which save_epochs, base_mix and start_decay are accepted, the mixed
weights, the pull toward the start, and the fingerprint the new keys leave at their defaults."""

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from causal_unlearn.core.configs import compose_config
from causal_unlearn.core.errors import UserError
from causal_unlearn.unlearn.finetune import (check_base_mix, check_save_epochs, check_start_decay, decay_toward,
                                             input_fingerprint, mixed_weights)


@pytest.mark.parametrize("epochs", [[], [1], [1, 3, 5]])
def test_whole_epochs_the_run_reaches_are_accepted(epochs):
    assert check_save_epochs(epochs, 5) == epochs


@pytest.mark.parametrize("entry", [0, 6, 2.5, True, "3"])
def test_an_epoch_the_run_does_not_end_is_refused_with_its_value(entry):
    with pytest.raises(UserError, match=f"save_epochs holds {entry}"):
        check_save_epochs([1, entry], 5)


@pytest.mark.parametrize("share", [0, 0.4, 1])
def test_a_share_from_zero_to_one_is_accepted(share):
    assert check_base_mix(share) == share


@pytest.mark.parametrize("share", [-0.1, 1.5, True, "half"])
def test_a_base_mix_outside_zero_to_one_is_refused(share):
    with pytest.raises(UserError, match="base_mix="):
        check_base_mix(share)


def test_mixed_weights_move_each_weight_the_share_of_the_way_back_to_the_start():
    model = torch.nn.Linear(3, 2)
    start = {name: torch.zeros_like(value) for name, value in model.state_dict().items()}
    mixed = mixed_weights(model, start, 0.25)
    assert set(mixed) == set(start)
    assert all(torch.allclose(mixed[name], 0.75 * value) for name, value in model.state_dict().items())


@pytest.mark.parametrize("rate", [0, 40, 2.5])
def test_a_start_decay_of_zero_or_more_is_accepted(rate):
    assert check_start_decay(rate) == rate


@pytest.mark.parametrize("rate", [-1, True, "strong"])
def test_a_negative_or_non_numeric_start_decay_is_refused(rate):
    with pytest.raises(UserError, match="start_decay="):
        check_start_decay(rate)


def test_the_pull_moves_trainable_weights_only_the_share_of_the_way_back():
    model = torch.nn.Linear(3, 2)
    model.bias.requires_grad_(False)
    trained = {name: value.detach().clone() for name, value in model.state_dict().items()}
    start = {name: torch.ones_like(value) for name, value in trained.items()}
    decay_toward(model, start, 0.1)
    assert torch.allclose(model.weight, 0.9 * trained["weight"] + 0.1)
    assert torch.equal(model.bias, trained["bias"])  # frozen: left as it is


def test_new_keys_at_their_defaults_keep_the_fingerprint_of_a_config_without_them():
    """Models cached before save_epochs, base_mix, start_decay, LoRA and replay_titles existed (TOFU's
    target and retain models) stay current; setting one retrains."""
    overrides = ["model_family=tiny-random", "replay_titles=[]"]
    cfg = compose_config("finetune_mini.yaml", overrides)
    without_keys = OmegaConf.create(OmegaConf.to_container(cfg))
    with open_dict(without_keys):
        for key in ("save_epochs", "base_mix", "start_decay", "LoRA", "replay_titles"):
            del without_keys[key]
    assert input_fingerprint(cfg) == input_fingerprint(without_keys)
    for setting in ("save_epochs=[2]", "base_mix=0.4", "start_decay=40", "LoRA.r=8", "replay_titles=[general]"):
        assert input_fingerprint(compose_config("finetune_mini.yaml", [*overrides, setting])) != input_fingerprint(cfg)
