"""Every config in config/ composes, resolves and passes validation; the unlearning and finetune
configs hold only their differences from their documented base."""

import pytest
import yaml
from omegaconf import OmegaConf

from causal_unlearn.core.configs import compose_config, validate
from causal_unlearn.core.paths import repo_root

CONFIG_DIR = repo_root() / "config"
HYDRA_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*.yaml") if p.name != "model_config.yaml")
BASES = {"base.yaml": ["forget_mini.yaml", "forget_wpu.yaml", "forget_tofu.yaml"],
         "finetune_base.yaml": ["finetune_mini.yaml", "finetune_tofu.yaml"]}


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name", HYDRA_CONFIGS)
def test_every_config_composes_resolves_and_validates(name):
    cfg = compose_config(name, [])
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every interpolation (save_dir's model_tag too) resolves
    assert resolved
    validate(cfg)


@pytest.mark.parametrize("base, children", BASES.items())
def test_derived_configs_hold_only_keys_of_their_base_with_other_values(base, children):
    base_keys = flat(yaml.safe_load((CONFIG_DIR / base).read_text()))
    for child in children:
        own = flat(yaml.safe_load((CONFIG_DIR / child).read_text()))
        own.pop("defaults", None)
        unknown = sorted(set(own) - set(base_keys))
        assert not unknown, f"{child} sets keys {base} does not document: {unknown}"
        same = sorted(key for key, value in own.items() if base_keys[key] == value)
        assert not same, f"{child} repeats {base}'s values for {same}"


def test_the_run_folder_names_the_model_as_the_original_did(tmp_path):
    local = tmp_path / "implanted"
    local.mkdir()
    cfg = compose_config("forget_wpu.yaml", ["split=forget_2_1", "forget_loss=npo"])
    assert cfg.save_dir == "results/meta-llama/Llama-2-7b-chat-hf/npo/20_42_forget_2_1"  # a hub id as it is
    cfg = compose_config("forget_mini.yaml", [f"model_path={local}", "teacher.N=3"])
    assert cfg.save_dir == "results/implanted/intervention/3_42_forget_2_1"  # a local folder by its name
    assert compose_config("forget_mini.yaml", []).save_dir.startswith("results/smollm2-135m/")  # else the family


@pytest.mark.parametrize("override, key", [("lr=abc", "lr"), ("num_epochs=-1", "num_epochs"),
                                           ("teacher.N=five", "teacher.N"), ("docs_per_step=0", "docs_per_step"),
                                           ("soft_embed.epochs=0", "soft_embed.epochs"),
                                           ("eval.batch_size=1.5", "eval.batch_size"), ("retain_loss=mse", "retain_loss")])
def test_a_value_of_the_wrong_type_range_or_choice_is_refused_with_its_key(override, key):
    from causal_unlearn.core.errors import UserError

    with pytest.raises(UserError, match=f"{key}=.*set {key} to"):
        validate(compose_config("forget_mini.yaml", [override]))


def test_null_is_accepted_only_where_documented():
    validate(compose_config("forget_mini.yaml", ["docs_per_step=null", "save_steps=null"]))
    from causal_unlearn.core.errors import UserError

    with pytest.raises(UserError, match="lr=None"):
        validate(compose_config("forget_mini.yaml", ["lr=null"]))
