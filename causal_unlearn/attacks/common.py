"""What the attacks (msj.py, soft_embed.py) share.

- which model is attacked: the unlearned model in `save_dir`; for `forget_loss=prompt_baseline`
  the model before unlearning (`model_path`) behind the "unlearn" system prompt; for
  `forget_loss=none` the model at `model_path` as it is (the base or implanted model)
  (core/run_layout.py: finished_model_path);
- where results go: the run's evaluation folder (core/run_layout.py: run_eval_dir);
- the forget QA rows, and the attack outputs: the original's JSON keys (`generated_text` =
  [question, generation, answer] triples, `RougeL`) plus a fingerprint, so a rerun with the same
  model, data and settings is skipped and anything else is recomputed (core/stage.py);
- optionally the answer judge's classes and rates of the generations (eval/answer_judge.py).
"""

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from causal_unlearn.core.data import load_split, require_fields
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import load_family, model_dir, precision_record
from causal_unlearn.core.paths import resolve_repo_path
from causal_unlearn.core.stage import file_fingerprint, fingerprint, folder_fingerprint, write_record
from causal_unlearn.eval.answer_judge import CATALOG_FILE, classify_rows, judge_columns, load_catalog
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
    # The answer catalog decides the judge's classes that the output stores.
    catalog = data.parent / CATALOG_FILE
    return fingerprint(OmegaConf.to_container(settings, resolve=True), cfg.model_family, cfg.split, cfg.forget_loss,
                       folder_fingerprint(model_dir(family, model_path)), file_fingerprint(data) if data.is_file() else str(data),
                       system, cfg.eval.ds_size, file_fingerprint(catalog) if catalog.is_file() else None,
                       # the precision the answers are decoded in (nothing added for float32)
                       *precision_record(cfg.eval.generation.get("cpu_bf16", False)).values())


def score_and_write(path: Path, column: str, rows: list[dict], generations: list[str], wanted: str,
                    extra: dict | None = None, *, judge_prefix: str | None = None,
                    data_path: str | None = None) -> float:
    """ROUGE-L recall of each generation against its gold answer; write the output and the CSV column.

    With `judge_prefix` and a `data_path` whose world knows its answers, the answer judge's class
    of each generation goes into the output (`answer_class`) and its three rates into the CSV as
    `{judge_prefix} Leak rate` etc. (eval/answer_judge.py); elsewhere the judge is off (one info line).
    """
    golds = [row["answer"] for row in rows]
    recalls = [score["rougeL_recall"] for score in rouge_recalls(golds, generations)]
    mean = float(np.mean(recalls))
    classes = None
    if judge_prefix is not None:
        if data_path is None:
            raise ValueError("score_and_write: judge_prefix needs data_path, the folder of the answer catalog")
        classes = classify_rows(rows, generations, load_catalog(data_path), path.name)
    judged = {"answer_class": classes} if classes else {}
    write_record(path, wanted, generated_text=[[row["question"], generation, row["answer"]]
                                               for row, generation in zip(rows, generations)],
                 RougeL=mean, rougeL_recall=recalls, **judged, **(extra or {}))
    add_columns(path.parent, {column: mean, **judge_columns(judge_prefix, classes)})
    logger.info("%s = %.3f over %d questions -> %s", column, mean, len(rows), path)
    return mean
