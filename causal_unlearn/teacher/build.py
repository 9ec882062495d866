"""The teacher stage: build the causal-intervention teacher for every target of a split.

Writes `{save_dir_root}/{model}/{forget_loss}/{artifact name}` (artifact.py), and beside it
`{...}.preview.json`, every edited text the teachers read. The artifact
records everything it was built from (`expected_meta`); a rerun with the same inputs returns at
once, a changed input (model weights, N, names, chunking, flags) rebuilds it, and forget.py
refuses a missing or stale one with the command that builds it (`read_teacher`). Launched as k
processes, each builds the teacher for a share of the targets and the first process writes the
one artifact (sharding.py).
"""

import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from causal_unlearn.core.distributed import finish_processes, gather_on_main, rank_and_world, start_processes
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_json
from causal_unlearn.core.models import load_family, load_model, load_tokenizer, model_dir
from causal_unlearn.core.paths import require_writable_dir, resolve_repo_path
from causal_unlearn.core.run_layout import model_tag
from causal_unlearn.core.stage import fingerprint, folder_fingerprint
from causal_unlearn.teacher.artifact import FORMAT_VERSION, TargetChunk, artifact_name, load_artifact, read_meta, save_artifact
from causal_unlearn.teacher.chunk_teacher import TeacherSettings, build_chunk_teacher, chunk_mentions, edited_versions
from causal_unlearn.teacher.chunking import fit_to_budget, sentence_chunks, token_chunks
from causal_unlearn.teacher.names import name_variants
from causal_unlearn.teacher.sharding import in_target_order, share_of
from causal_unlearn.teacher.substitutes import generated_names, load_name_map, names_from_map
from causal_unlearn.teacher.targets import Target, check_mentions, load_targets

logger = logging.getLogger("teacher")
CODE_VERSION = 5  # 2: other persons' names left alone; 3: compaction by a KL budget per position; 4: the budget spent on each chunk's mean KL; 5: float16 scaled (finer tail probabilities). Bump when the teacher computation changes, so old artifacts read as stale


def check_method_flags(cfg: DictConfig) -> None:
    """WHP and its teacher go together (the original's scripts broke this pairing)."""
    if (cfg.forget_loss == "whp") != bool(cfg.teacher.whp_baseline):
        raise UserError("forget_loss=whp and teacher.whp_baseline=true go together (with teacher.N=1); "
                        f"got forget_loss={cfg.forget_loss}, teacher.whp_baseline={cfg.teacher.whp_baseline}.")


def artifact_path(cfg: DictConfig) -> Path:
    t = cfg.teacher
    name = artifact_name(cfg.split, t.N, t.counter_fact_prompt, t.change_name_back, t.whp_baseline)
    return Path(cfg.save_dir_root) / model_tag(cfg.model_family, cfg.model_path) / cfg.forget_loss / name


def build_command(cfg: DictConfig, config_name: str) -> str:
    """The command that builds the artifact forget.py needs (quoted in its error messages)."""
    t = cfg.teacher
    extra = " teacher.whp_baseline=true" if t.whp_baseline else ""
    model = f" model_path={cfg.model_path}" if cfg.model_path else ""
    return (f"python teacher.py --config-name={config_name} split={cfg.split} forget_loss={cfg.forget_loss}"
            f" teacher.N={t.N} save_dir_root={cfg.save_dir_root}{model}{extra}")


PROMPT_ALLOWANCE = 256  # context tokens kept free for the prompt in front of a chunk


def chunks_of(cfg: DictConfig, target: Target, tokenizer, max_context: int) -> list[str]:
    if cfg.input_type != "document":
        chunks = [target.text.strip()]
    elif cfg.teacher.whp_baseline:
        chunks = token_chunks(target.text, tokenizer, cfg.teacher.whp_chunk_tokens)
    else:
        chunks = sentence_chunks(target.text, cfg.sentence_chunk)
    budget = max_context - PROMPT_ALLOWANCE
    return [piece for chunk in chunks for piece in fit_to_budget(chunk, tokenizer, budget)]


def substitutes_for(cfg: DictConfig, targets: list[Target]) -> dict[str, list[str]]:
    t = cfg.teacher
    if t.whp_baseline and t.N != 1:
        raise UserError(f"teacher.whp_baseline=true needs teacher.N=1 (got {t.N}).")
    documents: dict[str, str] = {}
    for target in targets:
        documents[target.title] = documents.get(target.title, "") + " " + (target.context or "") + " " + target.text
    if t.replace_names:
        mapping = load_name_map(resolve_repo_path(t.replace_names))
        return {title: names_from_map(mapping, title, t.N, t.replace_names) for title in documents}
    return {title: generated_names(title, t.N, cfg.seed, text) for title, text in documents.items()}


def work_alternatives(cfg: DictConfig, n: int) -> dict[str, list[str]]:
    """TOFU book titles and their alternatives (the i-th used with the i-th substitute)."""
    if not cfg.teacher.replace_book_names:
        return {}
    mapping = load_name_map(resolve_repo_path(cfg.teacher.replace_book_names))
    return {work: options for work, options in mapping.items() if len(options) >= n}


def settings_of(cfg: DictConfig) -> TeacherSettings:
    t = cfg.teacher
    return TeacherSettings(counter_fact_prompt=t.counter_fact_prompt and cfg.input_type == "document",
                           change_name_back=t.change_name_back, whp_baseline=t.whp_baseline,
                           drop_non_ascii=cfg.input_type == "document", top_k=t.top_k, kl_budget=t.kl_budget,
                           kl_budget_scope=str(t.kl_budget_scope).lower(), micro_batch=t.micro_batch)


def expected_meta(cfg: DictConfig, targets: list[Target], substitutes: dict[str, list[str]]) -> dict:
    """Everything the artifact depends on; forget.py compares it to detect a stale artifact."""
    family = load_family(cfg.model_family)
    weights = model_dir(family, cfg.model_path)
    t = cfg.teacher
    return {
        "format_version": FORMAT_VERSION, "code_version": CODE_VERSION, "model": str(weights),
        "model_fingerprint": folder_fingerprint(weights), "model_family": cfg.model_family,
        "split": cfg.split, "data_fingerprint": fingerprint([(x.title, x.key, x.text) for x in targets]),
        "N": t.N, "substitutes": substitutes, "input_type": cfg.input_type,
        "chunking": f"tokens:{t.whp_chunk_tokens}" if t.whp_baseline else f"sentences:{cfg.sentence_chunk}",
        "settings": settings_of(cfg).__dict__, "works": fingerprint(work_alternatives(cfg, t.N)),
    }


def build_teacher(cfg: DictConfig, targets: list[Target], substitutes: dict[str, list[str]]) -> list[TargetChunk]:
    family = load_family(cfg.model_family)
    tokenizer = load_tokenizer(family, cfg.model_path)
    model = load_model(family, cfg.model_path).eval()
    settings = settings_of(cfg)
    works = work_alternatives(cfg, cfg.teacher.N)
    results = []
    prefix_caches = {}  # the prompt head's KV cache, read once for all chunks (the model does not change here)
    for target in tqdm(targets, desc="teacher targets"):
        variants = name_variants(target.title)
        for chunk in chunks_of(cfg, target, tokenizer, family.max_context):
            teacher = build_chunk_teacher(model, tokenizer, family, chunk, target.title, variants,
                                          substitutes[target.title], settings, target.context, works, prefix_caches)
            if teacher is not None:
                results.append(TargetChunk(target.title, target.key, teacher))
    for title in dict.fromkeys(target.title for target in targets):
        _log_target(tokenizer, title, results, cfg.teacher.verbose)
    return results


def preview_path(artifact: Path) -> Path:
    """The edited texts beside the artifact: {split}_..._.preview.json."""
    return artifact.with_name(artifact.name.replace(".teacher.safetensors", ".preview.json"))


def write_preview(cfg: DictConfig, artifact: Path, chunks: list[TargetChunk], substitutes: dict[str, list[str]]) -> None:
    """Every edited chunk the teachers read (title, chunk index, substitute, text; TOFU: the edited
    question), so a user can check what was swapped, and what was left alone, before training."""
    works = work_alternatives(cfg, cfg.teacher.N)
    entries, counts = [], {}
    for chunk in chunks:
        number = counts[chunk.target] = counts.get(chunk.target, -1) + 1
        context = chunk.key if cfg.input_type == "question" else None
        text = chunk.teacher.text
        mentions = chunk_mentions(text, chunk.target, name_variants(chunk.target), works, context)
        for version in edited_versions(text, chunk.target, substitutes[chunk.target], mentions, works, context):
            entry = {"title": chunk.target, "chunk": number, "substitute": version.substitute, "text": version.text}
            entries.append({**entry, "question": version.context} if context is not None else entry)
    atomic_write_json(preview_path(artifact), entries)


def _log_target(tokenizer, title: str, results: list[TargetChunk], verbose: bool) -> None:
    mine = [r.teacher for r in results if r.target == title]
    positions = sum(len(t.positions) for t in mine)
    residual = sum(float(t.residual.sum()) for t in mine) / max(positions, 1)
    kept = sum(int(t.kept.sum()) for t in mine) / max(positions, 1)
    logger.info("%s: %d chunks, %d trained positions, %.1f tokens kept per position, mean mass outside them %.4f",
                title, len(mine), positions, kept, residual)
    if verbose and mine:
        first = mine[-1]
        for row, position in enumerate(first.positions[:20]):
            context = tokenizer.decode(first.input_ids[max(0, position - 8): position + 1])
            likeliest = np.argsort(-first.topk_probs[row], kind="stable")[:5]  # rows are stored in id order after the top
            top = ", ".join(f"{tokenizer.decode([int(first.topk_ids[row][i])])!r}:{first.topk_probs[row][i]:.2f}" for i in likeliest)
            logger.info("  ...%r -> %s", context, top)


def run_teacher(cfg: DictConfig) -> None:
    """Build (or find up to date) the artifact for cfg; the first process writes it."""
    torch.manual_seed(cfg.seed)
    check_method_flags(cfg)
    path = artifact_path(cfg)
    targets = load_targets(cfg)
    substitutes = substitutes_for(cfg, targets)
    meta = expected_meta(cfg, targets, substitutes)
    if read_meta(path) == meta:
        logger.info("Teacher artifact %s is up to date; skipping", path)
        if not preview_path(path).is_file():  # artifacts from before the preview existed
            write_preview(cfg, path, load_artifact(path)[1], substitutes)
        return
    require_writable_dir(path.parent, "save_dir_root")
    check_mentions(targets)
    rank, world = rank_and_world()
    start_processes()
    try:
        mine = share_of(targets, rank, world)
        if world > 1:
            logger.info("Process %d of %d builds %d of %d targets", rank, world, len(mine), len(targets))
        shares = gather_on_main(build_teacher(cfg, mine, substitutes))
    finally:
        finish_processes()
    if rank != 0:
        return
    chunks = in_target_order(targets, shares)
    write_preview(cfg, path, chunks, substitutes)  # first: the artifact, written last, marks the stage done
    save_artifact(path, chunks, meta)
    logger.info("Wrote %s (%d chunks, %.1f kB)", path, len(chunks), path.stat().st_size / 1024)


def read_teacher(cfg: DictConfig, config_name: str) -> list[TargetChunk]:
    """The teacher chunks for this config, refusing a missing or stale artifact."""
    check_method_flags(cfg)
    path = artifact_path(cfg)
    command = build_command(cfg, config_name)
    targets = load_targets(cfg)  # a bad split or data file is reported as such, not as a missing teacher
    if not path.is_file():
        raise UserError(f"No teacher artifact at {path}. Build it first: {command}")
    wanted = expected_meta(cfg, targets, substitutes_for(cfg, targets))
    found = read_meta(path)
    if found is None:
        raise UserError(f"Teacher artifact {path} is unreadable (truncated or tampered). Rebuild it: {command}")
    if found != wanted:
        changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        raise UserError(f"Teacher artifact {path} is stale (differs in: {', '.join(changed)}). Rebuild it: {command}")
    return load_artifact(path)[1]
