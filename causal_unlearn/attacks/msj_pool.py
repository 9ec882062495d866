"""The many-shot jailbreak's shot pool: correctly answered questions about anything but the targets.

The shots come from `msj.shots_file` (the original's msj_attack.json shape, used in file order),
or are built from the splits of `msj.pool_splits` (by default the retain persons and general
knowledge): the model BEFORE unlearning (`model_path`) answers their questions, and the answers
with ROUGE-L recall >= `msj.pool_min_rouge` become shots. Each split's answers are cached in the
user cache, keyed by model and data, and shared by every run attacked from that model; a copy of
the whole pool goes to the eval dir (`msj_shot_pool.json`) for the record.

A shot never holds a forget question (it would give the answer away) nor names a target (the
stranger control asks about never-seen names, and its prompt must not name the person it hides).
The attack takes the LAST k shots of the pool (the original's file is sorted by ROUGE, best last);
the built pool interleaves its splits from the end, so every k draws from every split alike.
"""

import json
import logging
import re
from pathlib import Path

from omegaconf import DictConfig, ListConfig

from causal_unlearn.core.data import load_split, require_fields
from causal_unlearn.core.embedded import cache_root
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_json
from causal_unlearn.core.models import Family, decoding_model, load_model, load_tokenizer, model_dir
from causal_unlearn.core.paths import resolve_repo_path
from causal_unlearn.core.prompts import question_prompt
from causal_unlearn.core.stage import fingerprint, folder_fingerprint, read_record, write_record
from causal_unlearn.eval.decoding import generate_answers
from causal_unlearn.eval.rouge import rouge_recalls
from causal_unlearn.teacher.names import find_mentions, name_variants

logger = logging.getLogger("msj_attack")
POOL_CACHE_FILE = "msj_shot_pool.json"
BLANK_LINE = re.compile(r"\n\s*\n")

Shot = tuple[str, str]


class ModelSlot:
    """One model in memory at a time; the pool and the attack share it when both use the same weights
    (the prompt baseline), and the pre-unlearning model is freed before the unlearned one loads."""

    def __init__(self, family: Family, cpu_bf16=False):
        self.family, self.cpu_bf16, self.path, self.loaded = family, cpu_bf16, None, None

    def get(self, path: str | None):
        if self.loaded is None or path != self.path:
            self.loaded = None
            # These models only answer (shot pool, attack): the decoding model is all that is kept.
            model = decoding_model(load_model(self.family, path).eval(), self.cpu_bf16)
            self.loaded = (model, load_tokenizer(self.family, path))
            self.path = path
        return self.loaded


def shot_answer(item: dict) -> str:
    """The answer a shot shows: the item's own generation when it has one, else its gold answer.

    Generations run on past the answer (lists, follow-ups) and some echo the prompt, so only the
    first paragraph after the last "[/INST]" is kept: a shot should look like a short, correct answer.
    """
    generated = item.get("generated")
    if generated is None:
        return str(item["answer"]).strip()
    reply = generated.split("[/INST]")[-1].strip()
    return BLANK_LINE.split(reply, maxsplit=1)[0].strip()


def select_shots(items: list[dict], min_rouge: float) -> list[Shot]:
    """(question, answer) of the items whose answer counts as correct (rougeL, when recorded)."""
    shots = []
    for item in items:
        if item.get("rougeL") is not None and item["rougeL"] < min_rouge:
            continue
        answer = shot_answer(item)
        if answer:  # an empty first paragraph would teach the model to say nothing
            shots.append((item["question"].strip(), answer))
    return shots


def load_shots_file(path: str) -> list[dict]:
    """The items of a shots file: a JSON list of dicts with a question and an answer or generation."""
    file = Path(resolve_repo_path(str(path)))
    if not file.is_file():
        raise UserError(f"msj.shots_file '{path}' does not exist; point it at a JSON list of {{question, answer}} "
                        f"dicts, or set msj.shots_file=null to build the shots from msj.pool_splits.")
    try:
        items = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"msj.shots_file {file} is not valid UTF-8 JSON ({err}).") from None
    valid = isinstance(items, list) and all(
        isinstance(item, dict) and isinstance(item.get("question"), str)
        and isinstance(item.get("generated", item.get("answer")), str) for item in items)
    if not valid:
        raise UserError(f"msj.shots_file {file} must be a JSON list of dicts, each with a string 'question' and a "
                        f"string 'answer' (or 'generated'), like the original's msj_attack.json.")
    return items


def pool_split_names(msj: DictConfig) -> list[str]:
    """The splits shots are built from: msj.pool_splits (a list, or one name), or the single
    msj.pool_split of configs written before the pool took several splits."""
    older = msj.get("pool_split")
    if older:
        logger.info("msj.pool_split=%s (the older single-split key) is set: shots come from that split only "
                    "(msj.pool_splits takes a list)", older)
        return [str(older)]
    splits = msj.get("pool_splits")
    names = [splits] if isinstance(splits, str) else list(splits) if isinstance(splits, (list, ListConfig)) else []
    if not names or not all(isinstance(name, str) and name for name in names):
        raise UserError(f"msj.pool_splits={splits} must be a non-empty list of split names (for example "
                        f"msj.pool_splits=[retain,general_retain]), or give msj.shots_file.")
    return names


def split_answers(cfg: DictConfig, family: Family, models: ModelSlot, split: str) -> list[dict]:
    """The pre-unlearning model's answers to one pool split, as shots-file items, cached by fingerprint.

    The threshold is applied after the cache, so trying another msj.pool_min_rouge needs no generation.
    """
    rows = load_split(cfg.data_path, split)
    require_fields(rows, ["question", "answer"], f"msj.pool_splits entry '{split}'")
    wanted = fingerprint("msj-pool", cfg.model_family, folder_fingerprint(model_dir(family, cfg.model_path)),
                         [(row["question"], row["answer"]) for row in rows], cfg.msj.max_new_tokens)
    cache = cache_root() / "msj_pools" / f"{wanted}.json"
    record = read_record(cache) or {}
    if record.get("fingerprint") == wanted and "items" in record:  # a damaged cache is rebuilt
        logger.info("reusing the shot pool of '%s' cached in %s", split, cache)
        return record["items"]
    logger.info("building the shot pool: the pre-unlearning model (%s) answers %d questions of '%s'",
                cfg.model_path or family.hf_key, len(rows), split)
    model, tokenizer = models.get(cfg.model_path)
    prompts = [question_prompt(family, tokenizer, row["question"]) for row in rows]  # no system prompt: plain knowledge
    generations = generate_answers(model, tokenizer, prompts, cfg.msj.max_new_tokens, cfg.msj.batch_size)
    # Score the text the shot will show, so "correct" describes what the attacked model sees.
    shown = [shot_answer({"generated": generation}) for generation in generations]
    recalls = rouge_recalls([row["answer"] for row in rows], shown)
    items = [{"question": row["question"], "answer": row["answer"], "generated": generation,
              "rougeL": recall["rougeL_recall"]} for row, generation, recall in zip(rows, generations, recalls)]
    write_record(cache, wanted, model_path=cfg.model_path, pool_split=split, items=items)
    return items


def interleave_from_the_end(groups: list[list[Shot]]) -> list[Shot]:
    """One list whose every tail takes from each group in turn: [..., a2, b2, a3, b3] for a1..a3, b1..b3."""
    backwards = [group[::-1] for group in reversed(groups)]  # built from the end, then turned round
    merged = [group[index] for index in range(max(map(len, groups), default=0))
              for group in backwards if index < len(group)]
    return merged[::-1]


def drop_questions(shots: list[Shot], questions: list[str]) -> list[Shot]:
    """Shots without the given questions: a forget question answered in a shot would leak its answer."""
    def normal(text: str) -> str:
        return " ".join(text.split()).casefold()

    banned = {normal(question) for question in questions}
    return [shot for shot in shots if normal(shot[0]) not in banned]


def drop_target_mentions(shots: list[Shot], titles: list[str]) -> list[Shot]:
    """Shots that name no target (any variant of the name: full, surname, initials)."""
    variants = sorted({variant for title in set(titles) for variant in name_variants(title)})
    return [shot for shot in shots if not find_mentions(f"{shot[0]}\n{shot[1]}", variants)]


def candidate_shots(cfg: DictConfig, family: Family, models: ModelSlot,
                    eval_dir: Path) -> tuple[list[Shot], str, str]:
    """(correct shots in pool order, where they come from, how to get more), before any target filter."""
    threshold = cfg.msj.pool_min_rouge
    if cfg.msj.shots_file:
        items = load_shots_file(cfg.msj.shots_file)
        where = f"msj.shots_file {cfg.msj.shots_file} ({len(items)} items)"
        fix = "lower msj.pool_min_rouge, or add items with a question and an answer"
        return select_shots(items, threshold), where, fix
    splits = pool_split_names(cfg.msj)
    answered = {split: split_answers(cfg, family, models, split) for split in splits}
    atomic_write_json(eval_dir / POOL_CACHE_FILE, {  # for the record: what the shots were chosen from
        "model_path": cfg.model_path, "pool_splits": splits,
        "items": [{**item, "split": split} for split, items in answered.items() for item in items]})
    correct = {split: select_shots(items, threshold) for split, items in answered.items()}
    logger.info("correct answers per pool split (ROUGE-L >= %s): %s", threshold,
                ", ".join(f"{split} {len(correct[split])}/{len(answered[split])}" for split in splits))
    where = (f"the pre-unlearning model's answers to split(s) {', '.join(repr(s) for s in splits)} "
             f"({sum(map(len, answered.values()))} questions)")
    fix = ("lower msj.pool_min_rouge, set model_path to a model that knows the answers of those splits, "
           "or give msj.shots_file")
    return interleave_from_the_end(list(correct.values())), where, fix


def shot_pool(cfg: DictConfig, family: Family, models: ModelSlot, eval_dir: Path) -> list[Shot]:
    """The shots in order (the last ones are the most recent), free of forget questions and target
    names; empty (with one warning line) when no item qualifies."""
    correct, where, fix = candidate_shots(cfg, family, models, eval_dir)
    # Every row of the forget split, not only the ds_size evaluated ones: none may be a shot.
    forget_rows = load_split(cfg.data_path, cfg.split)
    shots = drop_questions(correct, [row.get("question", "") for row in forget_rows])
    without_questions = len(shots)
    shots = drop_target_mentions(shots, [row["title"] for row in forget_rows if row.get("title")])
    logger.info("shot pool: %d correct answers from %s; %d dropped as forget questions, %d as naming a target",
                len(correct), where, len(correct) - without_questions, without_questions - len(shots))
    if not shots:  # a user's own data may have no question the model answers: skip, do not stop the pipeline
        logger.warning("MSJ attack skipped, its columns left empty: no item of %s has a correct, non-empty answer "
                       "at ROUGE-L recall >= %s (forget questions and shots naming a target excluded); %s.",
                       where, cfg.msj.pool_min_rouge, fix)
    return shots
