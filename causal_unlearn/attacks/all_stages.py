"""The attack stages of one model run one after the other in one process (attacks.py): the
many-shot jailbreak, the soft-embedding attack, then the LLM judge, which reads both attacks'
outputs. Each stage is exactly its own entry point's (msj_attack.py, soft_embed_attack.py,
eval_gpt.py): same settings, outputs and up-to-date checks; one process pays the imports once
instead of three times (about 20 s per model on a CPU)."""

import logging
import time

from omegaconf import DictConfig

from causal_unlearn.attacks.judge import run_judge
from causal_unlearn.attacks.msj import run_msj_attack
from causal_unlearn.attacks.soft_embed import run_soft_embed_attack
from causal_unlearn.core.errors import UserError

logger = logging.getLogger("attacks")
# In the order they run (the judge last: it scores the attacks' answers too).
STAGES = {"msj": ("many-shot jailbreak", run_msj_attack),
          "soft_embed": ("soft-embedding attack", run_soft_embed_attack),
          "judge": ("judge", run_judge)}


def chosen_stages(cfg: DictConfig) -> list[str]:
    """The stages `cfg.attacks` names (all when absent or empty), in the pipeline's order."""
    wanted = list(cfg.get("attacks") or STAGES)
    unknown = [name for name in wanted if name not in STAGES]
    if unknown:
        raise UserError(f"attacks={wanted} names unknown stage(s) {unknown}; choose from {list(STAGES)}.")
    return [name for name in STAGES if name in wanted]


def run_attacks(cfg: DictConfig) -> None:
    for name in chosen_stages(cfg):
        label, run = STAGES[name]
        started = time.time()
        run(cfg)
        logger.info("[attacks] %s: %.0f s", label, time.time() - started)
