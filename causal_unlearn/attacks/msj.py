"""Many-shot jailbreak: answer a forget question after many correctly answered questions about others.

The shots are real prior chat turns (question, answer) in the model's own format, followed by the
forget question with the assistant turn left open. They come from `msj.shots_file` (the original's
msj_attack.json shape), or are built from `msj.pool_split` (non-target QA): the model BEFORE
unlearning (`model_path`) answers those questions, and the answers with ROUGE-L recall >=
`msj.pool_min_rouge` become shots. The built pool is cached in the eval dir (`msj_shot_pool.json`).
The most recent shots that fit `msj.max_prompt_tokens` are kept, whole. Output:
`msj_attack_output.json` (the original's keys) and the `MSJ attack ROUGE` column of aggregate_stat.csv.
"""

import json
import logging
import re
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from causal_unlearn.attacks.common import attack_fingerprint, forget_qa, score_and_write
from causal_unlearn.core.data import load_split, require_fields
from causal_unlearn.core.embedded import cache_root
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_json
from causal_unlearn.core.models import Family, load_family, load_model, load_tokenizer, model_dir
from causal_unlearn.core.paths import resolve_repo_path
from causal_unlearn.core.prompts import question_prompt, render_chat
from causal_unlearn.core.run_layout import finished_model_path, run_eval_dir
from causal_unlearn.core.stage import fingerprint, folder_fingerprint, is_current, read_record, write_record
from causal_unlearn.eval.decoding import generate_answers
from causal_unlearn.eval.rouge import rouge_recalls
from causal_unlearn.eval.tables import add_columns
from causal_unlearn.unlearn.prompt_baseline import system_prompt

logger = logging.getLogger("msj_attack")
OUTPUT_FILE = "msj_attack_output.json"
POOL_CACHE_FILE = "msj_shot_pool.json"
COLUMN = "MSJ attack ROUGE"
BLANK_LINE = re.compile(r"\n\s*\n")

Shot = tuple[str, str]


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
                        f"dicts, or set msj.shots_file=null to build the shots from msj.pool_split.")
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


def generated_pool(cfg: DictConfig, family: Family, models: "ModelSlot", cache: Path) -> list[dict]:
    """The pre-unlearning model's answers to the pool split, as shots-file items, cached by fingerprint.

    The threshold is applied after the cache, so trying another msj.pool_min_rouge needs no generation.
    """
    rows = load_split(cfg.data_path, cfg.msj.pool_split)
    require_fields(rows, ["question", "answer"], f"msj.pool_split '{cfg.msj.pool_split}'")
    wanted = fingerprint("msj-pool", cfg.model_family, folder_fingerprint(model_dir(family, cfg.model_path)),
                         [(row["question"], row["answer"]) for row in rows], cfg.msj.max_new_tokens)
    # Every run attacked from the same pre-unlearning model shares one pool: a copy goes to the
    # eval dir (cache) for the record, the original to the user cache, keyed by the fingerprint.
    shared = cache_root() / "msj_pools" / f"{wanted}.json"
    for candidate in (cache, shared):
        record = read_record(candidate) or {}
        if record.get("fingerprint") == wanted and "items" in record:  # a damaged cache is rebuilt
            logger.info("reusing the shot pool cached in %s", candidate)
            if candidate != cache:
                atomic_write_json(cache, record)
            return record["items"]
    logger.info("building the shot pool: the pre-unlearning model (%s) answers %d questions of '%s'",
                cfg.model_path or family.hf_key, len(rows), cfg.msj.pool_split)
    model, tokenizer = models.get(cfg.model_path)
    prompts = [question_prompt(family, tokenizer, row["question"]) for row in rows]  # no system prompt: plain knowledge
    generations = generate_answers(model, tokenizer, prompts, cfg.msj.max_new_tokens, cfg.msj.batch_size)
    # Score the text the shot will show, so "correct" describes what the attacked model sees.
    shown = [shot_answer({"generated": generation}) for generation in generations]
    recalls = rouge_recalls([row["answer"] for row in rows], shown)
    items = [{"question": row["question"], "answer": row["answer"], "generated": generation,
              "rougeL": recall["rougeL_recall"]} for row, generation, recall in zip(rows, generations, recalls)]
    for path in (shared, cache):
        write_record(path, wanted, model_path=cfg.model_path, pool_split=cfg.msj.pool_split, items=items)
    return items


def drop_questions(shots: list[Shot], questions: list[str]) -> list[Shot]:
    """Shots without the given questions: a forget question answered in a shot would leak its answer."""
    def normal(text: str) -> str:
        return " ".join(text.split()).casefold()

    banned = {normal(question) for question in questions}
    return [shot for shot in shots if normal(shot[0]) not in banned]


def shot_pool(cfg: DictConfig, family: Family, models: "ModelSlot", eval_dir: Path) -> list[Shot]:
    """The shots in order (the last ones are the most recent), without any forget-split question;
    empty (with one warning line) when no item qualifies."""
    threshold = cfg.msj.pool_min_rouge
    if cfg.msj.shots_file:
        items = load_shots_file(cfg.msj.shots_file)
        source = f"msj.shots_file {cfg.msj.shots_file}"
        fix = "lower msj.pool_min_rouge, or add items with a question and an answer"
    else:
        items = generated_pool(cfg, family, models, eval_dir / POOL_CACHE_FILE)
        source = f"the pre-unlearning model's answers to split '{cfg.msj.pool_split}'"
        fix = ("lower msj.pool_min_rouge, set model_path to a model that knows the persons of that split, "
               "or give msj.shots_file")
    correct = select_shots(items, threshold)
    # Every question of the forget split, not only the ds_size evaluated ones: none may be a shot.
    forget_questions = [row.get("question", "") for row in load_split(cfg.data_path, cfg.split)]
    shots = drop_questions(correct, forget_questions)
    logger.info("shot pool: %d of %d items of %s are correct (ROUGE-L >= %s); %d dropped as forget questions",
                len(correct), len(items), source, threshold, len(correct) - len(shots))
    if not shots:  # a user's own data may have no question the model answers: skip, do not stop the pipeline
        logger.warning("MSJ attack skipped, its column left empty: none of the %d items of %s has a correct, "
                       "non-empty answer at ROUGE-L recall >= %s (forget questions excluded); %s.",
                       len(items), source, threshold, fix)
    return shots


def prompt_budget(msj: DictConfig, family: Family) -> int:
    """Tokens the prompt may use: msj.max_prompt_tokens, never more than the context leaves after generation."""
    room = family.max_context - msj.max_new_tokens
    if room <= 0:
        raise UserError(f"msj.max_new_tokens={msj.max_new_tokens} leaves no room for a prompt in the "
                        f"{family.max_context}-token context of {family.name}; lower it.")
    return min(msj.max_prompt_tokens or room, room)


def build_msj_prompt(family: Family, tokenizer, shots: list[Shot], question: str, system: str | None,
                     budget: int) -> tuple[str, int]:
    """(prompt, shots used): the most recent shots, whole, that fit `budget` tokens with the question.

    The prompt grows with every shot added, so the largest count that fits is found by bisection:
    a few renders per question instead of one per shot.
    """
    def render(count: int) -> str:
        recent = shots[len(shots) - count:]  # count=0 gives no shots (shots[-0:] would give all)
        return render_chat(family, tokenizer, recent + [(question, None)], system).text

    def fits(text: str) -> bool:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= budget

    alone = render(0)
    if not fits(alone):
        size = len(tokenizer(alone, add_special_tokens=False)["input_ids"])
        raise UserError(f"The forget question alone takes {size} prompt tokens, larger than the context budget of "
                        f"{budget} tokens (msj.max_prompt_tokens, at most the family's max_context minus "
                        f"msj.max_new_tokens); raise msj.max_prompt_tokens or lower msj.max_new_tokens.")
    everything = render(len(shots))
    if fits(everything):
        return everything, len(shots)
    best, best_text = 0, alone
    low, high = 1, len(shots) - 1  # invariant: `best` fits, every count above `high` does not
    while low <= high:
        middle = (low + high) // 2
        text = render(middle)
        if fits(text):
            best, best_text, low = middle, text, middle + 1
        else:
            high = middle - 1
    return best_text, best


class ModelSlot:
    """One model in memory at a time; the pool and the attack share it when both use the same weights
    (the prompt baseline), and the pre-unlearning model is freed before the unlearned one loads."""

    def __init__(self, family: Family):
        self.family, self.path, self.loaded = family, None, None

    def get(self, path: str | None):
        if self.loaded is None or path != self.path:
            self.loaded = None
            self.loaded = (load_model(self.family, path).eval(), load_tokenizer(self.family, path))
            self.path = path
        return self.loaded


def run_msj_attack(cfg: DictConfig) -> None:
    """Score the attacked model's answers to the forget questions after the shots (skipped when up to date)."""
    started = time.time()
    family = load_family(cfg.model_family)
    model_path = finished_model_path(cfg)
    eval_dir = run_eval_dir(cfg)
    rows = forget_qa(cfg)
    system = system_prompt(cfg)
    budget = prompt_budget(cfg.msj, family)
    models = ModelSlot(family)
    pool = shot_pool(cfg, family, models, eval_dir)
    if not pool:
        add_columns(eval_dir, {COLUMN: float("nan")})
        (eval_dir / OUTPUT_FILE).unlink(missing_ok=True)  # an earlier output would no longer describe this run
        return
    shots = pool[len(pool) - min(cfg.msj.max_shots, len(pool)):] if cfg.msj.max_shots is not None else pool

    output = eval_dir / OUTPUT_FILE
    # attack_fingerprint covers the settings but not the shots' content (file edits, pool model): add it.
    wanted = fingerprint(attack_fingerprint(cfg, cfg.msj, model_path, system), shots)
    if is_current(output, wanted):
        logger.info("%s is up to date (same model, data, shots and settings); skipping", output)
        # Re-aggregating the eval logs rewrites aggregate_stat.csv; put this attack's column back.
        add_columns(eval_dir, {COLUMN: read_record(output)["RougeL"]})
        return

    # Prompts first: a question that does not fit is refused before the model is loaded.
    tokenizer = load_tokenizer(family, model_path)
    built = [build_msj_prompt(family, tokenizer, shots, row["question"], system, budget) for row in rows]
    prompts, used = [text for text, _ in built], [count for _, count in built]
    logger.info("shots used per question (of %d available, budget %d tokens): min %d, mean %.1f, max %d",
                len(shots), budget, min(used), float(np.mean(used)), max(used))
    model, tokenizer = models.get(model_path)
    # Every question follows the same shots (when they all fit): the shots are read once.
    generations = generate_answers(model, tokenizer, prompts, cfg.msj.max_new_tokens, cfg.msj.batch_size)
    score_and_write(output, COLUMN, rows, generations, wanted, extra={"num_shots": used})
    logger.info("MSJ attack done in %.0f s", time.time() - started)

