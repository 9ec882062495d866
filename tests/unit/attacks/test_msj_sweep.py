"""The many-shot jailbreak's passes (attacks/msj.py): 0 shots is the plain evaluation, the sweep writes
one column per count, the stranger control names no target, and an empty pool still skips cleanly."""

import json
import logging
import math

import pandas as pd
import pytest
from omegaconf import OmegaConf

from causal_unlearn.attacks.common import forget_qa
from causal_unlearn.attacks.msj import (COLUMN, OUTPUT_FILE, RECOVERY_COLUMN, STRANGER_COLUMN, answer_pass,
                                        count_column, plan_pass, plan_passes, run_msj_attack)
from causal_unlearn.core.configs import compose_config, validate
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.prompts import question_prompt
from causal_unlearn.eval.decoding import generate_answers
from causal_unlearn.eval.qa_eval import eval_tasks, evaluate_task
from helpers import talkative

SHOTS = [(f"Where did person number {i} work in {1900 + i}?", f"Person number {i} worked at the mill of town {i}.")
         for i in range(12)]
TARGET_NAME_PARTS = ["Harlan", "Whitcombe", "Zoë", "Zoe", "Ellingrath"]  # data/wpu_mini forget_2_1


def _cfg(*overrides):
    return compose_config("forget_mini.yaml", ["model_family=tiny-random", "forget_loss=none", "eval.ds_size=3",
                                               "eval.generation.max_new_tokens=6", "eval.batch_size=2", *overrides])


@pytest.mark.parametrize("capped", [False, True])
@pytest.mark.parametrize("system", [None, "Forget everything about Harlan J. Whitcombe."])
def test_zero_shots_gives_the_plain_evaluations_prompts_and_answers(tiny_family, tiny_tokenizer, tiny_model, system,
                                                                    capped):
    # msj.batch_size and msj.max_new_tokens differ from the evaluation's: the 0-shot pass must not use them.
    cfg = _cfg("msj.batch_size=3", "msj.max_new_tokens=2")
    model = talkative(tiny_model)  # position-sensitive: another prompt, batch or length would change its answers
    rows = forget_qa(cfg)
    if capped:  # the original's total cap, set to bind: 2 answer tokens after the longest prompt instead of 6
        longest = max(len(tiny_tokenizer(question_prompt(tiny_family, tiny_tokenizer, row["question"], system),
                                         add_special_tokens=False)["input_ids"]) for row in rows)
        OmegaConf.update(cfg, "eval.generation.max_length", longest + 2, force_add=True)
    plain = evaluate_task(model, tiny_tokenizer, tiny_family, rows, eval_tasks(cfg.eval)[0], system)["generated_text"]
    zero = plan_pass(tiny_family, tiny_tokenizer, SHOTS, rows, 0, system, budget=100_000)
    assert zero.prompts == [plain[str(index)][0] for index in range(len(rows))]
    answers = answer_pass(model, tiny_tokenizer, zero, cfg)
    assert answers == [plain[str(index)][1] for index in range(len(rows))]
    # The comparison can fail: after shots the same model answers otherwise.
    shots = plan_pass(tiny_family, tiny_tokenizer, SHOTS, rows, 4, system, budget=100_000)
    assert answer_pass(model, tiny_tokenizer, shots, cfg) != answers


def test_the_stranger_control_asks_the_headline_attack_about_never_seen_names(tiny_family, tiny_tokenizer):
    cfg = _cfg("msj.max_shots=5", "msj.shot_counts=[0,2]")
    rows = forget_qa(cfg)
    passes, control = plan_passes(cfg, tiny_family, tiny_tokenizer, SHOTS, rows, None, budget=100_000)
    assert list(passes) == [0, 2, 5]  # the sweep, then the headline count
    assert control.count == 5 and set(control.used) == {5}
    assert len(control.rows) == len(rows)  # each question once about a stranger: paired with its target's
    assert len({row["title"] for row in control.rows}) == len({row["title"] for row in rows})
    for prompt in control.prompts:
        assert not any(part in prompt for part in TARGET_NAME_PARTS), prompt
    # The same questions and gold answers, only the name swapped: "In which year was X born?" -> "1921".
    assert [row["answer"] for row in control.rows] == [row["answer"] for row in rows]
    assert passes[5].prompts[0].replace(rows[0]["title"], control.rows[0]["title"]) == control.prompts[0]


def _shots_file(tmp_path, shots) -> str:
    path = tmp_path / "shots.json"
    path.write_text(json.dumps([{"question": question, "answer": answer} for question, answer in shots]))
    return str(path)


def test_the_sweep_writes_one_column_per_count_and_a_rerun_puts_them_back(tmp_path, monkeypatch):
    # The most recent shot names a target: it is dropped, so no prompt of the control names the person it hides.
    leaking = ("Who studied under Edwin Strall?", "Harlan J. Whitcombe, the cartographer.")
    cfg = _cfg(f"eval_dir={tmp_path / 'eval'}", f"msj.shots_file={_shots_file(tmp_path, SHOTS + [leaking])}",
               "msj.max_shots=5", "msj.shot_counts=[0,2,5]", "msj.max_prompt_tokens=1000")
    validate(cfg)
    prompts = []

    def recording(model, tokenizer, batch, *args, **kwargs):
        prompts.extend(batch)
        return generate_answers(model, tokenizer, batch, *args, **kwargs)

    monkeypatch.setattr("causal_unlearn.attacks.msj.generate_answers", recording)
    run_msj_attack(cfg)
    assert not any(leaking[0] in prompt for prompt in prompts)
    output = json.loads((tmp_path / "eval" / OUTPUT_FILE).read_text())
    stats = pd.read_csv(tmp_path / "eval" / "aggregate_stat.csv").iloc[0]
    assert [entry["shots"] for entry in output["sweep"]] == [0, 2, 5]
    assert [set(entry["num_shots"]) for entry in output["sweep"]] == [{0}, {2}, {5}]
    for entry in output["sweep"]:
        assert stats[count_column(entry["shots"])] == pytest.approx(entry["RougeL"])
    # The headline keeps the original's keys; it is the 5-shot pass, and recovery is it minus the control.
    assert output["shot_count"] == 5 and output["generated_text"] == output["sweep"][2]["generated_text"]
    assert stats[COLUMN] == pytest.approx(output["RougeL"])
    assert stats[STRANGER_COLUMN] == pytest.approx(output["stranger_control"]["RougeL"])
    assert stats[RECOVERY_COLUMN] == pytest.approx(output["RougeL"] - output["stranger_control"]["RougeL"])
    strangers = [question for question, _, _ in output["stranger_control"]["generated_text"]]
    control_prompts = [prompt for prompt in prompts if any(question in prompt for question in strangers)]
    assert len(control_prompts) == len(strangers) == 3
    assert not any(part in prompt for prompt in control_prompts for part in TARGET_NAME_PARTS)

    (tmp_path / "eval" / "aggregate_stat.csv").unlink()  # as re-aggregating the eval logs would rewrite it
    run_msj_attack(cfg)  # up to date: no generation, the columns come back from the output
    again = pd.read_csv(tmp_path / "eval" / "aggregate_stat.csv").iloc[0]
    assert again.to_dict() == pytest.approx(stats.to_dict())


def test_an_empty_pool_skips_with_one_warning_and_empty_columns(tmp_path, caplog):
    cfg = _cfg(f"eval_dir={tmp_path / 'eval'}", f"msj.shots_file={_shots_file(tmp_path, SHOTS)}",
               "msj.pool_min_rouge=0.5", "msj.shot_counts=[0,4]", "msj.max_shots=8")
    items = json.loads((tmp_path / "shots.json").read_text())
    (tmp_path / "shots.json").write_text(json.dumps([{**item, "rougeL": 0.1} for item in items]))  # none is correct
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / OUTPUT_FILE).write_text("{}")  # an earlier output no longer describes this run
    with caplog.at_level(logging.WARNING):
        run_msj_attack(cfg)
    assert [record.message for record in caplog.records if "MSJ attack skipped" in record.message]
    assert len([record for record in caplog.records if record.levelno >= logging.WARNING]) == 1
    stats = pd.read_csv(tmp_path / "eval" / "aggregate_stat.csv").iloc[0]
    for column in (COLUMN, count_column(0), count_column(4), STRANGER_COLUMN, RECOVERY_COLUMN):
        assert math.isnan(stats[column])
    assert not (tmp_path / "eval" / OUTPUT_FILE).exists()


@pytest.mark.parametrize("counts", ["[]", "[0,-4]", "[2.5]", "8"])
def test_shot_counts_must_be_a_list_of_non_negative_integers(counts):
    with pytest.raises(UserError, match="msj.shot_counts"):
        validate(_cfg(f"msj.shot_counts={counts}"))
