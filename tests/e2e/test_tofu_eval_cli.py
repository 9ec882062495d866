"""TOFU evaluation as a user runs it on the shared TOFU data: evaluate_util.py with
eval_everything.yaml and aggregate_eval_tofu.py give all 18 columns; eval_checkpoints.py
evaluates every checkpoint of a run and names the best."""

import json

import pandas as pd
import pytest

from helpers import run_cli

COLUMNS = ["ROUGE Real Authors", "Prob. Real Authors", "Truth Ratio Real Authors", "ROUGE Real World",
           "Prob. Real World", "Truth Ratio Real World", "ROUGE Retain", "Prob. Retain", "Truth Ratio Retain",
           "ROUGE Forget", "Prob. Forget", "Truth Ratio Forget", "ROUGE Forget Paraphrased",
           "Prob. Forget Paraphrased", "Truth Ratio Forget Paraphrased", "Model Utility", "Forget Quality",
           "Forget Quality Paraphrased"]


def test_tofu_eval_of_a_small_model_gives_every_column(tmp_path, shared_tofu_dir):
    save = tmp_path / "eval"
    result = run_cli("evaluate_util.py", "--config-name=eval_everything.yaml", "model_family=tiny-random",
                     f"data_path={shared_tofu_dir}", "split=forget01", f"save_dir={save}", "ds_size=4",
                     "generation.max_new_tokens=4")
    assert result.returncode == 0, result.stderr[-2000:]
    aggregated = json.loads((save / "eval_log_aggregated.json").read_text())
    assert "normalized_gt_loss" in aggregated["eval_real_author_wo_options.json"]
    assert len(aggregated["eval_log_forget.json"]["average_perturb_loss"]["0"]) == 5
    result = run_cli("aggregate_eval_tofu.py", f"ckpt_result={save / 'eval_log_aggregated.json'}",
                     f"retain_result={save / 'eval_log_aggregated.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(save / "aggregate_stat.csv")
    assert list(table.columns) == COLUMNS and table.notna().all().all()
    assert table.loc[0, "Forget Quality"] == pytest.approx(1.0)


def test_every_tofu_checkpoint_is_evaluated_and_the_best_named(tmp_path, shared_tofu_dir):
    run_dir = tmp_path / "run"
    trained = run_cli("forget.py", "--config-name=forget_tofu.yaml", "model_family=tiny-random", "model_path=null",
                      f"data_path={shared_tofu_dir}", "split=forget01", "forget_loss=grad_diff", "retain_strength=1",
                      "num_epochs=1", "docs_per_step=16", "save_steps=1", f"save_dir={run_dir}", "lr=1e-3")
    assert trained.returncode == 0, trained.stderr[-2000:]
    evaluated = run_cli("eval_checkpoints.py", f"run_dir={run_dir}", "model_family=tiny-random",
                        f"data_path={shared_tofu_dir}", "split=forget01", "ds_size=3", "generation.max_new_tokens=4")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    best = json.loads((run_dir / "best_checkpoint.json").read_text())
    assert best["best"] in {"checkpoint-1", "checkpoint-2"} and set(best["rows"]) == {"checkpoint-1", "checkpoint-2"}
    for step in (1, 2):
        assert list(pd.read_csv(run_dir / f"checkpoint-{step}" / "eval" / "aggregate_stat.csv").columns) == COLUMNS
        assert (run_dir / f"checkpoint-{step}" / "model.safetensors").is_file()  # weights kept for re-evaluation
    assert (run_dir / "report_checkpoints.png").is_file()
