"""LLM judge over any OpenAI-compatible endpoint, plus the local repetition measure.

Reads the eval logs in eval_dir (and the attack outputs when present), asks the judge, writes
`gpt_score.json` (every judge input, reply and rating) and adds these columns to eval_dir's
aggregate_stat.csv, each mapped to [0, 1] with higher = more private / better:
`Forget GPT privacy score`, `Forget Response Quality`, `Reject rate`, `Embed Attack GPT privacy
score`, `MSJ attack GPT privacy score`, `In Passage Quality`, and `Unique n-grams` (share of
distinct 4-grams in the forget answers; needs no judge). Replies are cached on disk by model and
prompt, so a rerun sends no request. With no endpoint or key configured the judge columns stay
empty, one line says why, and the program still succeeds.
"""

import hashlib
import json
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from causal_unlearn.attacks import judge_prompts as jp
from causal_unlearn.core.data import load_split
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_json
from causal_unlearn.core.models import load_family, load_tokenizer
from causal_unlearn.core.run_layout import run_eval_dir
from causal_unlearn.eval.tables import add_columns

logger = logging.getLogger("eval_gpt")
JUDGE_COLUMNS = ["Forget GPT privacy score", "Forget Response Quality", "Reject rate", "Embed Attack GPT privacy score",
                 "MSJ attack GPT privacy score", "In Passage Quality", "Unique n-grams"]
ATTACK_FILES = {"embedding_attack_output.json": "Embed Attack GPT privacy score",
                "msj_attack_output.json": "MSJ attack GPT privacy score"}


class Judge:
    """Chat completions with an on-disk cache, bounded retries and a parse retry.

    A request that fails counts its item as missing; but MAX_CONNECTION_FAILURES failures in a row
    to reach the endpoint at all stop the judge with one error naming it, instead of sending every
    remaining request to a server that is not there.
    """

    MAX_CONNECTION_FAILURES = 3

    def __init__(self, cfg: DictConfig, client):
        self.cfg, self.client = cfg, client
        self.cache_dir = Path(cfg.cache_dir).expanduser()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.requests = 0
        self.connection_failures = 0  # in a row

    def _complete(self, messages: list[dict]) -> str | None:
        key = hashlib.sha256(json.dumps([self.cfg.model, self.cfg.max_tokens, messages]).encode()).hexdigest()
        cached = self.cache_dir / f"{key}.json"
        if cached.is_file():
            return json.loads(cached.read_text())["reply"]
        self._refuse_if_unreachable()
        try:
            self.requests += 1
            response = self.client.chat.completions.create(model=self.cfg.model, messages=messages, temperature=0,
                                                           max_tokens=self.cfg.max_tokens, seed=0)
            reply = response.choices[0].message.content or ""
        except Exception as err:  # network, timeout, rate limit after the client's own retries
            self._count_failure(err)
            logger.warning("judge request failed (%s); recorded as missing", type(err).__name__)
            return None
        self.connection_failures = 0
        atomic_write_json(cached, {"model": self.cfg.model, "messages": messages, "reply": reply})
        return reply

    def _count_failure(self, err: Exception) -> None:
        from openai import APIConnectionError  # its subclass APITimeoutError too

        self.connection_failures = self.connection_failures + 1 if isinstance(err, APIConnectionError) else 0
        self._refuse_if_unreachable()

    def _refuse_if_unreachable(self) -> None:
        if self.connection_failures >= self.MAX_CONNECTION_FAILURES:
            endpoint = self.cfg.base_url or "the OpenAI API"
            raise UserError(f"The judge cannot reach {endpoint} ({self.connection_failures} connection failures in a "
                            f"row); start the server or fix judge.base_url, or unset it and {self.cfg.api_key_env} "
                            f"to leave the judge columns empty.")

    def rate(self, system: str | None, user: str, allowed: range) -> dict:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        reply = self._complete(messages)
        rating = jp.parse_rating(reply, allowed)
        if rating is None and reply is not None:  # one reminder, then the item counts as missing
            reply = self._complete(messages + [{"role": "assistant", "content": reply},
                                               {"role": "user", "content": jp.RETRY_REMINDER}])
            rating = jp.parse_rating(reply, allowed)
        return {"input": user, "reply": reply, "rating": rating}

    def rate_all(self, jobs: list[tuple]) -> list[dict]:
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            futures = [pool.submit(self.rate, *job) for job in jobs]
            try:
                return [future.result() for future in futures]
            except UserError:
                pool.shutdown(cancel_futures=True)  # the endpoint is gone: send nothing more
                raise


def make_client(cfg: DictConfig):
    """An OpenAI client, or None (with the reason) when no endpoint/key is configured."""
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    if not cfg.base_url and not key:
        return None, f"no judge: set {cfg.api_key_env} (OpenAI) or judge.base_url (any OpenAI-compatible server)"
    if not cfg.model:
        return None, "no judge: set judge.model"
    from openai import OpenAI

    return OpenAI(api_key=key or "not-needed", base_url=cfg.base_url or None, timeout=cfg.timeout,
                  max_retries=cfg.max_retries), None


def unique_ngram_ratio(tokenizer, texts: list[str], n: int = 4) -> float:
    """Mean share of distinct n-grams per answer; answers shorter than n tokens are skipped."""
    ratios = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
        if grams:
            ratios.append(len(set(grams)) / len(grams))
    return float(np.mean(ratios)) if ratios else float("nan")


def _score(results: list[dict]) -> float:
    ratings = [r["rating"] for r in results if r["rating"] is not None]
    return (float(np.mean(ratings)) - 1) / 2 if ratings else float("nan")


def _dedup(log: dict, rows: list[dict]) -> list[tuple[str, str, str, str]]:
    """(question, gold, response, title) per distinct question of an eval log."""
    seen, items = set(), []
    for key, (_, response, gold) in log["generated_text"].items():
        row = rows[int(key)] if int(key) < len(rows) else {}
        question = row.get("question", "")
        if question in seen:
            continue
        seen.add(question)
        items.append((question, gold, response, row.get("title", "")))
    return items


def judge_eval_dir(judge: Judge, eval_dir: Path, forget_rows: list[dict]) -> tuple[dict, dict]:
    columns, raw = {}, {}
    forget = _dedup(json.loads((eval_dir / "eval_log_forget.json").read_text()), forget_rows)
    raw["forget_privacy"] = judge.rate_all([(jp.PRIVACY_SYSTEM, jp.PRIVACY_USER.format(question=q, answer=a, response=r),
                                             range(1, 4)) for q, a, r, _ in forget])
    raw["forget_quality"] = judge.rate_all([(jp.QUALITY_SYSTEM_FORGET, jp.QUALITY_USER.format(
        question=jp.mask_name(q, t, t.split()[-1]) if t else q, response=jp.mask_name(r, t, t.split()[-1]) if t else r),
        range(1, 4)) for q, _, r, t in forget])
    raw["forget_reject"] = judge.rate_all([(None, jp.REJECT_USER.format(
        question=jp.mask_name(q, t, "XX") if t else q, response=jp.mask_name(r, t, "XX") if t else r), range(1, 3))
        for q, _, r, t in forget])
    columns["Forget GPT privacy score"] = _score(raw["forget_privacy"])
    columns["Forget Response Quality"] = _score(raw["forget_quality"])
    classes = [r["rating"] for r in raw["forget_reject"] if r["rating"] is not None]
    columns["Reject rate"] = float(np.mean([c == 2 for c in classes])) if classes else float("nan")
    for file_name, column in ATTACK_FILES.items():
        if (eval_dir / file_name).is_file():
            triples = json.loads((eval_dir / file_name).read_text())["generated_text"]  # [question, generation, answer]
            raw[file_name] = judge.rate_all([(jp.PRIVACY_SYSTEM, jp.PRIVACY_USER.format(
                question=q, answer=a, response=g), range(1, 4)) for q, g, a in triples])
            columns[column] = _score(raw[file_name])
    hard = eval_dir / "eval_log_hard_retain.json"
    if hard.is_file():
        items = {text[0]: text for text in json.loads(hard.read_text())["generated_text"].values()}.values()
        raw["hard_retain_quality"] = judge.rate_all([(jp.QUALITY_SYSTEM_PLAIN, jp.QUALITY_USER.format(
            question=prompt, response=response), range(1, 4)) for prompt, response, _ in items])
        columns["In Passage Quality"] = _score(raw["hard_retain_quality"])
    return columns, raw


def run_judge(cfg: DictConfig) -> None:
    """Judge the eval logs (and attack outputs) in the run's evaluation folder; add the columns."""
    eval_dir = run_eval_dir(cfg)
    if not (eval_dir / "eval_log_forget.json").is_file():
        raise UserError(f"{eval_dir}/eval_log_forget.json does not exist; run evaluate_util.py first (or set eval_dir).")
    family = load_family(cfg.model_family)
    forget_log = json.loads((eval_dir / "eval_log_forget.json").read_text())
    responses = [text[1] for text in forget_log["generated_text"].values()]
    columns = {"Unique n-grams": unique_ngram_ratio(load_tokenizer(family, cfg.model_path), responses)}
    client, reason = make_client(cfg.judge)
    raw = {}
    if client is None:
        logger.warning("%s; judge columns left empty", reason)
    else:
        judge = Judge(cfg.judge, client)
        judged, raw = judge_eval_dir(judge, eval_dir, load_split(cfg.data_path, cfg.split)[: cfg.eval.ds_size])
        columns.update(judged)
        missing = sum(r["rating"] is None for results in raw.values() for r in results)
        logger.info("judge: %d requests sent (the rest from the cache), %d ratings missing", judge.requests, missing)
    atomic_write_json(eval_dir / "gpt_score.json", {"judge_model": cfg.judge.model, "columns": columns, **raw})
    add_columns(eval_dir, {column: columns.get(column, float("nan")) for column in JUDGE_COLUMNS})
    logger.info("%s", ", ".join(f"{k}={v:.3f}" for k, v in columns.items() if not math.isnan(v)))

