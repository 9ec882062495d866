"""The bf16 settings in fingerprints: at float32 they leave every fingerprint as it was before the
settings existed (cached outputs stay current); a run that resolves to bf16 gets its own."""

import pytest
from omegaconf import OmegaConf, open_dict

from causal_unlearn.attacks.common import attack_fingerprint
from causal_unlearn.core import models
from causal_unlearn.core.configs import compose_config
from causal_unlearn.eval.qa_eval import eval_fingerprint
from causal_unlearn.unlearn.checkpoints import run_fingerprint

FAMILY = ["model_family=tiny-random", "forget_loss=none"]


def fingerprints(cfg):
    family = models.load_family(cfg.model_family)
    return {"eval": eval_fingerprint(cfg.eval, family), "attack": attack_fingerprint(cfg, cfg.msj, None, None),
            "run": run_fingerprint(cfg)}


def without_precision_keys(cfg):
    bare = OmegaConf.create(OmegaConf.to_container(cfg))
    with open_dict(bare):
        del bare["cpu_bf16_autocast"], bare.eval.generation["cpu_bf16"]
    return bare


def test_float32_settings_keep_the_fingerprints_of_a_config_without_them():
    cfg = compose_config("forget_mini.yaml", FAMILY)
    assert fingerprints(cfg) == fingerprints(without_precision_keys(cfg))


@pytest.mark.parametrize("native", [True, False])
def test_auto_counts_as_what_it_resolves_to_on_this_cpu(monkeypatch, native):
    monkeypatch.setattr(models, "cpu_computes_bf16", lambda: native)
    plain = fingerprints(compose_config("forget_mini.yaml", FAMILY))
    auto = fingerprints(compose_config("forget_mini.yaml", [*FAMILY, "cpu_bf16_autocast=auto", "eval.generation.cpu_bf16=auto"]))
    forced = fingerprints(compose_config("forget_mini.yaml", [*FAMILY, "cpu_bf16_autocast=true", "eval.generation.cpu_bf16=true"]))
    for stage in plain:
        assert forced[stage] != plain[stage]
        assert auto[stage] == (forced[stage] if native else plain[stage])
