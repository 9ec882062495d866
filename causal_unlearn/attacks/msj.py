"""Many-shot jailbreak: answer a forget question after many correctly answered questions about others.

The shots (msj_pool.py) are real prior chat turns (question, answer) in the model's own format,
followed by the forget question with the assistant turn left open. One generation pass per count:

- the sweep, `msj.shot_counts` (0 included): the last k shots of the pool, as many as fit
  `msj.max_prompt_tokens`, whole. At 0 shots the prompt is the plain evaluation's own prompt and
  the answers are decoded with its settings (eval.generation.max_new_tokens and max_length,
  eval.batch_size), so the 0-shot answers are the plain evaluation's answers on any model. Every count decodes with
  the evaluation's max_new_tokens, so the sweep compares with Forget ROUGE on equal terms.
- the headline, `msj.max_shots` (null = the whole pool): the original's attack, `MSJ attack ROUGE`.
- the stranger control: the headline attack on the forget QA with each target's name swapped for
  a never-seen name (eval/strangers.py), scored against the same gold answers (the name swapped
  there too). What a model gets right about a person it never saw is copied from the shots (a
  town the shots' persons share with the targets) or guessed, not recovered. `MSJ recovery` is
  the headline minus this control: what the shots bring out that is specific to the targets.

Output: `msj_attack_output.json` (the original's keys for the headline, plus `sweep`,
`stranger_control` and `recovery`) and the columns of aggregate_stat.csv (see `result_columns`).
"""

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from causal_unlearn.attacks.common import attack_fingerprint, forget_qa, score_and_write
from causal_unlearn.attacks.msj_pool import ModelSlot, Shot, shot_pool
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import Family, load_family, load_tokenizer
from causal_unlearn.core.prompts import question_prompt, render_chat
from causal_unlearn.core.run_layout import finished_model_path, run_eval_dir
from causal_unlearn.core.stage import fingerprint, is_current, read_record
from causal_unlearn.eval.decoding import generate_answers
from causal_unlearn.eval.rouge import rouge_recalls
from causal_unlearn.eval.strangers import stranger_rows
from causal_unlearn.eval.answer_judge import judge_columns
from causal_unlearn.eval.tables import add_columns
from causal_unlearn.unlearn.prompt_baseline import system_prompt

logger = logging.getLogger("msj_attack")
OUTPUT_FILE = "msj_attack_output.json"
COLUMN = "MSJ attack ROUGE"
STRANGER_COLUMN = "MSJ stranger ROUGE"
RECOVERY_COLUMN = "MSJ recovery"


def count_column(count: int) -> str:
    return f"MSJ ROUGE ({count} shots)"


def prompt_budget(cfg: DictConfig, family: Family) -> int:
    """Tokens the prompt may use: msj.max_prompt_tokens, never more than the context leaves after generation."""
    room = family.max_context - cfg.eval.generation.max_new_tokens
    if room <= 0:
        raise UserError(f"eval.generation.max_new_tokens={cfg.eval.generation.max_new_tokens} leaves no room for a "
                        f"prompt in the {family.max_context}-token context of {family.name}; lower it.")
    return min(cfg.msj.max_prompt_tokens or room, room)


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
                        f"eval.generation.max_new_tokens); raise msj.max_prompt_tokens.")
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


@dataclass
class Pass:
    """One generation pass: every question after the same `count` shots (fewer where they do not fit)."""

    count: int
    rows: list[dict]
    prompts: list[str]
    used: list[int]  # shots each prompt holds
    about: str = "the targets"  # for the log


def plan_pass(family: Family, tokenizer, pool: list[Shot], rows: list[dict], count: int, system: str | None,
              budget: int) -> Pass:
    """The prompts of one pass; at 0 shots exactly the plain evaluation's (qa_eval.evaluate_task)."""
    questions = [row["question"] for row in rows]
    if count == 0:
        return Pass(0, rows, [question_prompt(family, tokenizer, question, system) for question in questions],
                    [0] * len(rows))
    shots = pool[len(pool) - min(count, len(pool)):]
    built = [build_msj_prompt(family, tokenizer, shots, question, system, budget) for question in questions]
    return Pass(count, rows, [text for text, _ in built], [used for _, used in built])


def answer_pass(model, tokenizer, plan: Pass, cfg: DictConfig) -> list[str]:
    """Greedy answers, decoded as the plain evaluation decodes; at 0 shots with its batch size and
    total-length cap too, so the call is the plain evaluation's own. The cap (the original's 200
    tokens of prompt + answer) is not applied after shots: it would leave no room for an answer.
    The prefix the prompts share (the shots) is read once."""
    if plan.count == 0:
        return generate_answers(model, tokenizer, plan.prompts, cfg.eval.generation.max_new_tokens,
                                cfg.eval.batch_size, max_length=cfg.eval.generation.get("max_length"))
    return generate_answers(model, tokenizer, plan.prompts, cfg.eval.generation.max_new_tokens, cfg.msj.batch_size)


def answer_passes(model, tokenizer, plans: list[Pass], cfg: DictConfig) -> list[list[str]]:
    """The answers of each pass. Passes after the same shots (the headline attack and its stranger
    control) share one generation call, so the shots are read once; a 0-shot pass keeps its own call."""
    groups: dict[int | str, list[int]] = {}
    for index, plan in enumerate(plans):
        groups.setdefault(plan.count or f"alone {index}", []).append(index)
    answers: dict[int, list[str]] = {}
    for members in groups.values():
        prompts = [prompt for index in members for prompt in plans[index].prompts]
        together = answer_pass(model, tokenizer, Pass(plans[members[0]].count, [], prompts, []), cfg)
        for index in members:
            size = len(plans[index].prompts)
            answers[index], together = together[:size], together[size:]
    return [answers[index] for index in range(len(plans))]


def scored(plan: Pass, answers: list[str]) -> dict:
    """A pass's result in the output's shape: ROUGE-L recall per answer and its mean."""
    golds = [row["answer"] for row in plan.rows]
    recalls = [score["rougeL_recall"] for score in rouge_recalls(golds, answers)]
    logger.info("%d shots (used per question: min %d, max %d), %d questions about %s: ROUGE-L recall %.3f",
                plan.count, min(plan.used), max(plan.used), len(recalls), plan.about, float(np.mean(recalls)))
    return {"shots": plan.count, "RougeL": float(np.mean(recalls)), "rougeL_recall": recalls, "num_shots": plan.used,
            "generated_text": [[row["question"], answer, row["answer"]] for row, answer in zip(plan.rows, answers)]}


def headline_count(msj: DictConfig, pool: list[Shot]) -> int:
    return len(pool) if msj.max_shots is None else msj.max_shots


def plan_passes(cfg: DictConfig, family: Family, tokenizer, pool: list[Shot], rows: list[dict], system: str | None,
                budget: int) -> tuple[dict[int, Pass], Pass | None]:
    """The sweep's passes by count (the headline's included) and the stranger control (None when
    the forget rows name no target: nobody to swap)."""
    headline = headline_count(cfg.msj, pool)
    counts = list(dict.fromkeys([*cfg.msj.shot_counts, headline]))
    if max(counts) > len(pool):
        logger.info("the pool holds %d shots: counts above that (%s) use all of them", len(pool),
                    ", ".join(str(count) for count in counts if count > len(pool)))
    passes = {count: plan_pass(family, tokenizer, pool, rows, count, system, budget) for count in counts}
    if not all(row.get("title") for row in rows):
        logger.warning("MSJ stranger control skipped, its columns left empty: the forget rows need a 'title' "
                       "(the target's name) to swap it for never-seen names.")
        return passes, None
    # One never-seen name per target (stranger_rows lists the rows once per name, the first name
    # first): each forget question is asked once about its target and once about a stranger, and a
    # second name would cost another pass of questions on a CPU demo.
    strangers = stranger_rows(rows, "question", "answer")[: len(rows)]
    control = plan_pass(family, tokenizer, pool, strangers, headline, system, budget)
    control.about = "never-seen names (the control)"
    return passes, control


def result_columns(record: dict, shot_counts: list[int]) -> dict:
    """The aggregate_stat.csv columns of an output record (NaN where it has no value)."""
    sweep = {entry["shots"]: entry["RougeL"] for entry in record.get("sweep", [])}
    control = record.get("stranger_control") or {}
    recovery = record.get("recovery")
    return {COLUMN: record.get("RougeL", math.nan),
            **{count_column(count): sweep.get(count, math.nan) for count in shot_counts},
            STRANGER_COLUMN: control.get("RougeL", math.nan),
            RECOVERY_COLUMN: math.nan if recovery is None else recovery,
            **judge_columns(COLUMN.removesuffix(" ROUGE"), record.get("answer_class"))}


def run_msj_attack(cfg: DictConfig) -> None:
    """Score the attacked model's answers to the forget questions after the shots (skipped when up to date)."""
    started = time.time()
    family = load_family(cfg.model_family)
    model_path = finished_model_path(cfg)
    eval_dir = run_eval_dir(cfg)
    output = eval_dir / OUTPUT_FILE
    shot_counts = list(cfg.msj.shot_counts)
    rows = forget_qa(cfg)
    system = system_prompt(cfg)
    budget = prompt_budget(cfg, family)
    models = ModelSlot(family, cfg.eval.generation.get("cpu_bf16", False))
    pool = shot_pool(cfg, family, models, eval_dir)
    if not pool:
        add_columns(eval_dir, result_columns({}, shot_counts))
        output.unlink(missing_ok=True)  # an earlier output would no longer describe this run
        return

    # Prompts first: a question that does not fit is refused before the model is loaded.
    passes, control = plan_passes(cfg, family, load_tokenizer(family, model_path), pool, rows, system, budget)
    plans = [*passes.values(), *([control] if control is not None else [])]
    # The prompts hold the shots, the strangers' names and the system prompt; the decoding settings are the eval's.
    wanted = fingerprint(attack_fingerprint(cfg, cfg.msj, model_path, system), [plan.prompts for plan in plans],
                         cfg.eval.generation.max_new_tokens, cfg.eval.generation.get("max_length"), cfg.eval.batch_size)
    if is_current(output, wanted):
        logger.info("%s is up to date (same model, data, shots and settings); skipping", output)
        # Re-aggregating the eval logs rewrites aggregate_stat.csv; put this attack's columns back.
        add_columns(eval_dir, result_columns(read_record(output), shot_counts))
        return

    model, tokenizer = models.get(model_path)
    results = [scored(plan, answers) for plan, answers in zip(plans, answer_passes(model, tokenizer, plans, cfg))]
    by_count = dict(zip(passes, results))
    headline = by_count[headline_count(cfg.msj, pool)]
    stranger = results[-1] if control is not None else None
    record = {"shot_count": headline["shots"], "num_shots": headline["num_shots"],
              "sweep": [by_count[count] for count in dict.fromkeys(shot_counts)], "stranger_control": stranger,
              "recovery": None if stranger is None else headline["RougeL"] - stranger["RougeL"]}
    answers = [answer for _, answer, _ in headline["generated_text"]]
    score_and_write(output, COLUMN, rows, answers, wanted, extra=record, judge_prefix=COLUMN.removesuffix(" ROUGE"),
                    data_path=cfg.data_path)
    columns = result_columns(read_record(output), shot_counts)
    add_columns(eval_dir, columns)
    logger.info("MSJ attack done in %.0f s: %s", time.time() - started,
                ", ".join(f"{name} {value:.3f}" for name, value in columns.items()))
