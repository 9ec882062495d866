"""The frontier grid: plan the jobs, run them on k workers, and gather each run's per-question scores.

Layout under frontier.out_dir:

    implanted/{split}/eval/              the implanted model on the split (strangers: the floor)
    runs/{method}/{seed}_{split}/        forget.py's run folder; checkpoint-{step}/eval/ per budget
    runs/{method}/{seed}_{split}/frontier_job.json   written last: the job's fingerprint and its scores
    teachers/seed{seed}/{model}/{intervention,whp}/   teacher artifacts (shared by the runs of a split and seed)

A finished training job keeps its scores in frontier_job.json and drops its weights (about 0.5 GB a
checkpoint); a rerun with the same settings and implant skips it. Teachers and references are cheap
to check (their stages skip themselves) and run before the training jobs, with every core.
"""

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_json
from causal_unlearn.core.paths import repo_root
from causal_unlearn.core.run_layout import FORGET_DONE, checkpoint_dirs, checkpoint_eval_dir, checkpoint_step
from causal_unlearn.core.stage import fingerprint, folder_fingerprint, is_current, read_record, write_record

logger = logging.getLogger("frontier")
JOB_RECORD = "frontier_job.json"
# Per task: the eval log it comes from and what is read per question.
TASK_LOGS = {"forget": "eval_log_forget.json", "hard_retain": "eval_log_hard_retain.json",
             "general_retain": "eval_log_general_retain.json", "other_persons": "eval_log_other_persons.json"}
FLOOR_LOG = "eval_log_strangers.json"
# Per attack: its output in the eval folder, and the task of its per-question gain over the plain
# answers (attack ROUGE-L recall - Forget ROUGE-L recall): what the attack brings back.
ATTACK_OUTPUTS = {"msj_gain": "msj_attack_output.json", "embed_gain": "embedding_attack_output.json"}
# Per-question 0/1 indicators from the offline answer judge's class of each forget answer.
JUDGE_TASKS = {"invented": "invented", "leak": "reveals"}


@dataclass
class Job:
    kind: str                      # teacher | reference | train
    name: str                      # for logs and progress
    run_dir: Path
    overrides: list[str]
    threads: int = 1
    meta: dict = field(default_factory=dict)


def other_split(split: str, splits: list[str]) -> str:
    others = [s for s in splits if s != split]
    if not others:
        raise UserError("The frontier needs at least two forget splits: each split's Other Persons are the "
                        "targets of another (frontier.splits=[forget_2_1,forget_2_2]).")
    return others[0]


def run_dir_of(settings: DictConfig, method: str, seed: int, split: str) -> Path:
    return Path(settings.out_dir) / "runs" / method / f"{seed}_{split}"


def method_overrides(settings: DictConfig, method: str) -> list[str]:
    overrides = list(settings.methods[method])
    if not any(o.startswith("forget_loss=") for o in overrides):
        raise UserError(f"frontier.methods.{method} names no forget_loss=...; add one (e.g. forget_loss=npo).")
    return overrides


def common_overrides(settings: DictConfig, split: str, seed: int) -> list[str]:
    return [f"split={split}", f"seed={seed}", f"model_path={settings.implant_dir}",
            # Teacher artifacts are named by split and N, not seed: one folder per seed keeps them apart.
            f"save_dir_root={Path(settings.out_dir) / 'teachers' / f'seed{seed}'}",
            f"eval.other_persons_split={other_split(split, list(settings.splits))}"]


def chosen_methods(settings: DictConfig) -> list[str]:
    if settings.only is None:
        return list(settings.methods)
    unknown = [m for m in settings.only if m not in settings.methods]
    if unknown:
        raise UserError(f"frontier.only names '{unknown[0]}', which is not in frontier.methods "
                        f"({', '.join(settings.methods)}).")
    return list(settings.only)


def check_settings(settings: DictConfig) -> None:
    """The grid's own keys (the stages check theirs): one clear error before anything runs."""
    for key in ("workers", "num_epochs", "save_steps", "draws"):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise UserError(f"frontier.{key} must be a positive whole number, got {settings[key]!r}.")
    if not settings.seeds or not all(isinstance(seed, int) for seed in settings.seeds):
        raise UserError(f"frontier.seeds must be a non-empty list of whole numbers, got {list(settings.seeds or [])}.")
    if not all(isinstance(seed, int) for seed in settings.get("attack_seeds") or []):
        raise UserError(f"frontier.attack_seeds must be a list of whole numbers ([] = no attacks), "
                        f"got {list(settings.attack_seeds)}.")
    if not all(0 < x <= 1 for x in settings.match_at):
        raise UserError(f"frontier.match_at holds normalised forgetting levels in (0, 1], got {list(settings.match_at)}.")
    if settings.reference_method not in settings.methods:
        raise UserError(f"frontier.reference_method '{settings.reference_method}' is not in frontier.methods.")


def plan(settings: DictConfig, cores: int) -> tuple[list[Job], list[Job]]:
    """(jobs the training needs first: teachers and references; the training jobs), each job with
    its share of the cores."""
    check_settings(settings)
    malformed = [m for m in settings.methods if not OmegaConf.is_list(settings.methods[m])]
    if malformed:
        raise UserError(f"frontier.methods.{malformed[0]} must be a list of forget_mini.yaml overrides.")
    threads = max(1, cores // settings.workers)
    attack_seeds = set(settings.get("attack_seeds") or [])
    first, training = [], []
    teachers = {}
    for split in settings.splits:
        first.append(Job("reference", f"implanted on {split}", Path(settings.out_dir) / "implanted" / split,
                         [f"split={split}", f"model_path={settings.implant_dir}", "forget_loss=none",
                          "eval.stranger_names=true",
                          f"eval.other_persons_split={other_split(split, list(settings.splits))}"], threads,
                         {"attack": bool(attack_seeds)}))
        for seed in settings.seeds:
            for method in chosen_methods(settings):
                overrides = [*common_overrides(settings, split, seed), *method_overrides(settings, method)]
                loss = next(o.split("=", 1)[1] for o in overrides if o.startswith("forget_loss="))
                if loss in ("intervention", "whp"):
                    teacher_keys = [o for o in overrides if o.startswith(("teacher.", "forget_loss=", "split=", "seed="))]
                    teachers.setdefault(tuple(sorted(teacher_keys)), Job(
                        "teacher", f"teacher {loss} {seed}_{split}", Path(settings.out_dir) / "teachers" / f"seed{seed}",
                        [*common_overrides(settings, split, seed), *teacher_keys], threads))
                run_dir = run_dir_of(settings, method, seed, split)
                training.append(Job("train", f"{method} {seed}_{split}", run_dir, [
                    *overrides, f"save_dir={run_dir}", f"num_epochs={settings.num_epochs}",
                    f"save_steps={settings.save_steps}", "save_total_limit=null", "eval_after_training=false"],
                    threads, {"method": method, "seed": seed, "split": split, "attack": seed in attack_seeds}))
    return first + list(teachers.values()), training


def job_fingerprint(job: Job, settings: DictConfig) -> str:
    attacked = ["attacks"] if job.meta.get("attack") else []  # unattacked jobs keep their earlier fingerprint
    return fingerprint(job.overrides, settings.stage_config, folder_fingerprint(settings.implant_dir), *attacked)


def free_devices() -> queue.Queue:
    """One token per visible GPU (none on a CPU machine): a training job holds one while it runs."""
    import torch  # only here: planning and reports need no torch

    devices = queue.Queue()
    for index in range(torch.cuda.device_count()):
        devices.put(str(index))
    return devices


def launch(job: Job, settings: DictConfig, device: str | None = None) -> None:
    """Run the job's process (on GPU `device` when given); its output goes to a log in its folder."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    # Teachers of one seed share a folder and may run at once: each job its own spec and log.
    tag = job.kind if job.kind != "teacher" else "_".join(job.name.split())
    spec = job.run_dir / f"frontier_spec_{tag}.json"
    atomic_write_json(spec, {"kind": job.kind, "config": settings.stage_config, "overrides": job.overrides,
                             "run_dir": str(job.run_dir), "attack": bool(job.meta.get("attack"))})
    env = {**os.environ, "OMP_NUM_THREADS": str(job.threads), "TOKENIZERS_PARALLELISM": "false"}
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    log = job.run_dir / f"{tag}.log"
    with log.open("a") as out:
        code = subprocess.call([sys.executable, "-m", "causal_unlearn.eval.frontier_job", str(spec)],
                               stdout=out, stderr=subprocess.STDOUT, cwd=repo_root(), env=env)
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-5:])
        raise UserError(f"frontier job '{job.name}' failed (exit {code}); its log {log} ends with:\n{tail}")


def per_question(log_path: Path, key: str = "rougeL_recall") -> list:
    values = json.loads(log_path.read_text())[key]
    return [values[k] for k in sorted(values, key=int)]


def eval_scores(eval_dir: Path) -> dict[str, list[float]]:
    """Per task, each question's ROUGE-L recall, and the judge's per-question indicators."""
    missing = [name for name in TASK_LOGS.values() if not (eval_dir / name).is_file()]
    if missing:
        raise UserError(f"{eval_dir} lacks {missing[0]}; the job's evaluation did not finish (rerun frontier.py).")
    scores = {task: per_question(eval_dir / name) for task, name in TASK_LOGS.items()}
    classes = per_question(eval_dir / TASK_LOGS["forget"], "answer_class")
    for task, wanted in JUDGE_TASKS.items():
        scores[task] = [float(c == wanted) for c in classes]
    for task, name in ATTACK_OUTPUTS.items():  # attacked budgets only
        if (eval_dir / name).is_file():
            attacked = json.loads((eval_dir / name).read_text())["rougeL_recall"]
            scores[task] = [a - plain for a, plain in zip(attacked, scores["forget"], strict=True)]
    return scores


def drop_weights(run_dir: Path) -> None:
    """A finished job's models are not needed again (its scores are in its record)."""
    for path in [*run_dir.glob("*.safetensors"), *run_dir.glob("checkpoint-*/*.safetensors"),
                 *run_dir.glob("checkpoint-*/*.pt"), *run_dir.glob("checkpoint-*/*.pth")]:
        path.unlink()


def run_training_job(job: Job, settings: DictConfig, devices: queue.Queue | None) -> dict:
    record = job.run_dir / JOB_RECORD
    wanted = job_fingerprint(job, settings)
    if is_current(record, wanted):
        return read_record(record)
    if record.exists():  # a record of other settings: this folder's checkpoints are not this job's
        shutil.rmtree(job.run_dir)
    started = time.time()
    device = devices.get() if devices is not None else None  # waits for a free GPU (workers > GPUs)
    try:
        launch(job, settings, device)
    finally:
        if device is not None:
            devices.put(device)
    checkpoints = [{"step": checkpoint_step(c), "scores": eval_scores(checkpoint_eval_dir(c))}
                   for c in checkpoint_dirs(job.run_dir)]
    train_info = read_record(job.run_dir / FORGET_DONE) or {}
    write_record(record, wanted, **job.meta, checkpoints=checkpoints, seconds=round(time.time() - started, 1),
                 train_seconds=train_info.get("train_seconds"))
    drop_weights(job.run_dir)
    return read_record(record)


def ensure_implant(settings: DictConfig) -> None:
    """finetune.py builds the implant, or returns at once when it is current (its own fingerprint).
    implant_config null: implant_dir is used as it is (a folder or a hub id, e.g. the paper's model)."""
    if settings.implant_config is None:
        return
    started = time.time()
    code = subprocess.call([sys.executable, "finetune.py", f"--config-name={settings.implant_config}",
                            f"save_dir={settings.implant_dir}"], cwd=repo_root())
    if code != 0:
        raise UserError(f"The implant ({settings.implant_config} into {settings.implant_dir}) failed; see its output above.")
    logger.info("implant ready in %s (%.0f s)", settings.implant_dir, time.time() - started)


def run_grid(settings: DictConfig, cores: int) -> tuple[dict, list[dict]]:
    """Every job, finished or skipped: ({split: reference scores with 'floor'}, [training records])."""
    first, training = plan(settings, cores)
    # Side by side like the training jobs: small models leave a second thread of one process half idle.
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        for job in tqdm(pool.map(lambda job: launch(job, settings) or job, first), total=len(first),
                        desc="teachers and references", unit="job"):
            logger.info("%s: ready", job.name)
    references = reference_scores(settings)
    # Seed by seed, so an interrupted grid has whole seeds to report; within a seed the longest jobs first
    # (the methods with a retain term train on twice the texts), which keeps the workers busy to the end.
    training.sort(key=lambda job: (list(settings.seeds).index(job.meta["seed"]),
                                   "retain_strength=1" not in " ".join(job.overrides)))
    records = []
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        devices = free_devices()
        uses_gpus = not devices.empty()
        futures = {pool.submit(run_training_job, job, settings, devices if uses_gpus else None): job for job in training}
        with tqdm(total=len(futures), desc="training jobs", unit="job") as bar:
            for future in as_completed(futures):
                try:
                    record = future.result()
                except BaseException:  # a failed job stops the grid: the jobs not started are dropped
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                records.append(record)
                logger.info("%s: done (%s s)", futures[future].name, record.get("seconds"))
                bar.update()
    return references, records


def reference_scores(settings: DictConfig) -> dict[str, dict[str, list[float]]]:
    """Per split, the implanted model's per-question scores, with the strangers' as 'floor'."""
    references = {}
    for split in settings.splits:
        eval_dir = Path(settings.out_dir) / "implanted" / split / "eval"
        if not (eval_dir / FLOOR_LOG).is_file():
            raise UserError(f"No reference evaluation in {eval_dir}; run frontier.py without report_only first.")
        references[split] = {**eval_scores(eval_dir), "floor": per_question(eval_dir / FLOOR_LOG)}
    return references


def finished_records(settings: DictConfig) -> tuple[dict, list[dict]]:
    """What report_only reads: the references and every finished job's record on disk."""
    references = reference_scores(settings)
    records = [read_record(p) for p in sorted(Path(settings.out_dir).glob(f"runs/*/*/{JOB_RECORD}"))]
    wanted = set(chosen_methods(settings))
    return references, [r for r in records if r and r.get("split") in settings.splits and r.get("method") in wanted]
