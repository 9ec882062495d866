"""The prompting baseline writes the evaluation schema, behind the unlearn system prompt;
the optional Other Persons task adds its columns."""

import json

import pandas as pd

from causal_unlearn.unlearn.prompt_baseline import unlearn_system_prompt
from helpers import run_cli

EVAL_ARGS = ["model_family=tiny-random", "eval.generation.max_new_tokens=4", "eval.ds_size=2",
             "eval.other_persons_split=forget_2_2"]


def test_prompt_baseline_writes_the_evaluation_schema_behind_the_system_prompt(tmp_path):
    plain_dir, baseline_dir = tmp_path / "plain", tmp_path / "baseline"
    plain = run_cli("evaluate_util.py", *EVAL_ARGS, f"eval.save_dir={plain_dir}")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert run_cli("aggregate_wpu.py", "--eval-dir", str(plain_dir)).returncode == 0
    baseline = run_cli("prompt_baseline.py", *EVAL_ARGS, f"eval.save_dir={baseline_dir}")
    assert baseline.returncode == 0, baseline.stderr[-2000:]

    plain_logs = json.loads((plain_dir / "eval_log_aggregated.json").read_text())
    baseline_logs = json.loads((baseline_dir / "eval_log_aggregated.json").read_text())
    assert sorted(baseline_logs) == sorted(plain_logs) == sorted(
        ["eval_log_forget.json", "eval_log_hard_retain.json", "eval_log_general_retain.json", "eval_log_other_persons.json"])
    for name, log in baseline_logs.items():
        assert set(log) == set(plain_logs[name])
    plain_columns = list(pd.read_csv(plain_dir / "aggregate_stat.csv").columns)
    assert list(pd.read_csv(baseline_dir / "aggregate_stat.csv").columns) == plain_columns
    # The Other Persons task's columns come last: its ROUGE and Probability, then (the embedded world
    # knows its answers) the answer judge's three rates.
    assert plain_columns[-5:] == ["Other Persons ROUGE", "Other Persons Probability", "Other Persons Leak rate",
                                  "Other Persons Invented fact rate", "Other Persons No claim rate"]

    titles = ["Harlan J. Whitcombe", "Zoë Ellingrath"]  # the forget_2_1 targets
    prompt = baseline_logs["eval_log_forget.json"]["generated_text"]["0"][0]
    assert unlearn_system_prompt(titles) in prompt
    assert unlearn_system_prompt(titles) not in plain_logs["eval_log_forget.json"]["generated_text"]["0"][0]
    # the system prompt changes the gold-answer probabilities too, not only the generations
    assert baseline_logs["eval_log_forget.json"]["avg_gt_loss"] != plain_logs["eval_log_forget.json"]["avg_gt_loss"]

    again = run_cli("prompt_baseline.py", *EVAL_ARGS, f"eval.save_dir={baseline_dir}")
    assert again.returncode == 0 and "up to date" in again.stdout + again.stderr
