"""The frontier report (causal_unlearn/eval/frontier_report.py) on hand-made grid records: the table's
normalisation, the matched-forgetting cells and the verdicts."""

import numpy as np
import pandas as pd
import pytest

from causal_unlearn.eval.frontier_report import compare, write_report

QUESTIONS = 8


def _scores(forget: float, hard: float, other: float = 1.0, invented: float = 0.0, rng=None) -> dict:
    """Per-question 0/1 scores with the given means (rounded to eighths), shuffled by rng."""
    def column(mean):
        values = np.array([1.0] * round(mean * QUESTIONS) + [0.0] * (QUESTIONS - round(mean * QUESTIONS)))
        return list(rng.permutation(values) if rng is not None else values)
    return {"forget": column(forget), "hard_retain": column(hard), "general_retain": column(1.0),
            "other_persons": column(other), "invented": column(invented), "leak": column(forget)}


def _references() -> dict:
    return {split: {**_scores(1.0, 1.0), "floor": [0.0] * QUESTIONS} for split in ("a", "b")}


def _record(method: str, split: str, seed: int, hard_by_step: dict[int, float], seed_rng: int) -> dict:
    rng = np.random.default_rng(seed_rng)
    # Forget falls by a quarter per step: step 2 is normalised forgetting 0.5, step 4 is 1.
    return {"method": method, "split": split, "seed": seed,
            "checkpoints": [{"step": step, "scores": _scores(1 - step / 4, hard, invented=step / 8, rng=rng)}
                            for step, hard in hard_by_step.items()]}


def _records() -> list[dict]:
    records = []
    for i, (split, seed) in enumerate([("a", 1), ("a", 2), ("b", 1), ("b", 2)]):
        records.append(_record("keeper", split, seed, {2: 1.0, 4: 1.0}, i))
        records.append(_record("eraser", split, seed, {2: 0.25, 4: 0.0}, 10 + i))
    return records


def test_the_table_starts_every_run_at_the_implanted_model_and_normalises_forgetting(tmp_path):
    write_report(tmp_path, _references(), _records(), ["a", "b"], [0.5], 40, "keeper")
    table = pd.read_csv(tmp_path / "frontier.csv")
    start = table[table["step"] == 0]
    assert (start["normalised forgetting"] == 0).all() and (start["Hard Retain ratio"] == 1).all()
    half = table[(table["step"] == 2) & (table["method"] == "eraser")]
    assert half["normalised forgetting"].tolist() == pytest.approx([0.5] * 4)
    assert half["Hard Retain ratio"].tolist() == pytest.approx([0.25] * 4)
    assert len(table) == 8 * 3  # 8 runs, steps 0, 2 and 4


def test_the_report_reads_each_method_at_matched_forgetting_and_names_the_better_one(tmp_path):
    report = write_report(tmp_path, _references(), _records(), ["a", "b"], [0.5, 1.0], 60, "keeper").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| keeper | pooled | 0.500 ")]
    assert rows and "1.00 [1.00, 1.00]" in rows[0]
    eraser = [line for line in report.splitlines() if line.startswith("| eraser | a | 0.500 ")]
    assert eraser and "| 0.25 [" in eraser[0]
    assert "keeper is better on Hard Retain at 0.5 (a)" in report
    assert "Hard Retain at 0.5 (pooled)" in report
    for split in ("a", "b", "pooled"):
        assert (tmp_path / f"frontier_{split}.png").stat().st_size > 0


def test_compare_prefers_the_lower_invented_fact_rate_and_abstains_on_overlap():
    assert compare((0.1, 0.05, 0.15), (0.5, 0.4, 0.6), higher_is_better=False) == "a"
    assert compare((0.1, 0.05, 0.15), (0.5, 0.4, 0.6), higher_is_better=True) == "b"
    assert compare((0.3, 0.2, 0.5), (0.4, 0.3, 0.6), higher_is_better=True) == "none"
    assert compare((float("nan"),) * 3, (0.4, 0.3, 0.6), higher_is_better=True) == "n/a"


def test_attack_gains_come_from_the_attacked_runs_and_are_read_between_their_budgets(tmp_path):
    """Seed 1's last checkpoint and the implanted model are attacked: the gain's curve runs from the
    implanted model (x 0, gain 0) to that checkpoint (x 1), read at 0.5 half way; unattacked rows stay empty."""
    references = {split: {**scores, "msj_gain": [0.0] * QUESTIONS, "embed_gain": [0.0] * QUESTIONS}
                  for split, scores in _references().items()}
    records = _records()
    for record in records:
        if record["seed"] == 1:
            gain = 0.5 if record["method"] == "eraser" else 0.0
            last = record["checkpoints"][-1]["scores"]
            last["msj_gain"] = [gain] * QUESTIONS
            last["embed_gain"] = [gain / 2] * QUESTIONS
    report = write_report(tmp_path, references, records, ["a", "b"], [0.5], 40, "keeper").read_text()
    table = pd.read_csv(tmp_path / "frontier.csv")
    attacked = table[(table["seed"] == 1) & (table["step"] == 4) & (table["method"] == "eraser")]
    assert attacked["Forget MSJ gain"].tolist() == pytest.approx([0.5, 0.5])
    assert table[table["step"] == 2]["Forget MSJ gain"].isna().all()
    header = next(line for line in report.splitlines() if line.startswith("| method | split | forgetting "))
    columns = [c.strip() for c in header.strip("|").split("|")]
    eraser = next(line for line in report.splitlines() if line.startswith("| eraser | a | 0.500 "))
    cells = dict(zip(columns, [c.strip() for c in eraser.strip("|").split("|")]))
    assert cells["MSJ gain"].startswith("0.25") and cells["Embed gain"].startswith("0.12")
    keeper_better = next(line for line in report.splitlines() if line.startswith("**keeper vs eraser.**"))
    assert "MSJ gain at 0.5 (a)" in keeper_better.split("keeper is better on")[1].split(". ")[0]
