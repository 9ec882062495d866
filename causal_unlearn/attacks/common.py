"""What the attacks (msj.py, soft_embed.py) share.

- which model is attacked: the unlearned model in `save_dir`; for `forget_loss=prompt_baseline`
  the model before unlearning (`model_path`) behind the "unlearn" system prompt; for
  `forget_loss=none` the model at `model_path` as it is (the base or implanted model)
  (core/run_layout.py: finished_model_path);
- where results go: the run's evaluation folder (core/run_layout.py: run_eval_dir);
- the forget QA rows, and the attack outputs: the original's JSON keys (`generated_text` =
  [question, generation, answer] triples, `RougeL`) plus a fingerprint, so a rerun with the same
  model, data and settings is skipped and anything else is recomputed (core/stage.py).
"""

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from causal_unlearn.core.data import load_split, require_fields
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import load_family, model_dir
from causal_unlearn.core.paths import resolve_repo_path
from causal_unlearn.core.stage import file_fingerprint, fingerprint, folder_fingerprint, write_record
from causal_unlearn.eval.rouge import rouge_recalls
from causal_unlearn.eval.tables import add_columns

logger = logging.getLogger("attack")


def forget_qa(cfg: DictConfig) -> list[dict]:
    """The forget split's QA rows (capped by eval.ds_size), refusing a split without questions."""
    rows = load_split(cfg.data_path, cfg.split)[: cfg.eval.ds_size]
    if not rows or "question" not in rows[0]:
        raise UserError(f"The forget split '{cfg.split}' has no QA rows (question/answer); the attacks score "
                        f"answers to its questions, so add QA rows or skip the attack.")
    require_fields(rows, ["question", "answer"], f"forget split '{cfg.split}'")
    return rows


def attack_fingerprint(cfg: DictConfig, settings: DictConfig, model_path: str | None, system: str | None) -> str:
    """What an attack output depends on; `system` is the caller's system_prompt(cfg), passed in
    so the forget split is not loaded again."""
    family = load_family(cfg.model_family)
    data = Path(resolve_repo_path(str(cfg.data_path))) / f"{cfg.split}.json"
    return fingerprint(OmegaConf.to_container(settings, resolve=True), cfg.model_family, cfg.split, cfg.forget_loss,
                       folder_fingerprint(model_dir(family, model_path)), file_fingerprint(data) if data.is_file() else str(data),
                       system, cfg.eval.ds_size)


def score_and_write(path: Path, column: str, rows: list[dict], generations: list[str], wanted: str,
                    extra: dict | None = None) -> float:
    """ROUGE-L recall of each generation against its gold answer; write the output and the CSV column."""
    golds = [row["answer"] for row in rows]
    recalls = [score["rougeL_recall"] for score in rouge_recalls(golds, generations)]
    mean = float(np.mean(recalls))
    write_record(path, wanted, generated_text=[[row["question"], generation, row["answer"]]
                                               for row, generation in zip(rows, generations)],
                 RougeL=mean, rougeL_recall=recalls, **(extra or {}))
    add_columns(path.parent, {column: mean})
    logger.info("%s = %.3f over %d questions -> %s", column, mean, len(rows), path)
    return mean
