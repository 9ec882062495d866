"""The report (eval/report.py): markdown + PNG per split (WPU table) and per-checkpoint plot (TOFU run)."""

import pandas as pd
import pytest

from causal_unlearn.core.errors import UserError
from causal_unlearn.eval.report import tofu_frontier_report, tofu_report, wpu_report


def test_wpu_report_writes_markdown_and_one_plot_per_split(tmp_path):
    rows = [{"method": m, "split": s, "Forget ROUGE": f, "Hard Retain ROUGE": 0.9, "General Retain ROUGE": 0.8}
            for s in ("forget_2_1", "forget_2_2") for m, f in (("implanted", 0.9), ("intervention", 0.2))]
    pd.DataFrame(rows).to_csv(tmp_path / "summary.csv", index=False)
    report = wpu_report(tmp_path / "summary.csv", "implanted").read_text()
    assert "![forget_2_1](report_forget_2_1.png)" in report and "| intervention | 0.200 |" in report
    for split in ("forget_2_1", "forget_2_2"):
        assert (tmp_path / f"report_{split}.png").read_bytes()[:4] == b"\x89PNG"


def test_tofu_report_orders_checkpoints_by_step(tmp_path):
    for step, quality in ((12, 0.5), (2, 0.01)):
        folder = tmp_path / f"checkpoint-{step}" / "eval"
        folder.mkdir(parents=True)
        pd.DataFrame([{"Forget Quality": quality, "Model Utility": 0.6, "ROUGE Forget": 0.3}]).to_csv(
            folder / "aggregate_stat.csv", index=False)
    report = tofu_report(tmp_path).read_text()
    assert report.index("| 2 |") < report.index("| 12 |")
    assert (tmp_path / "report_checkpoints.png").is_file()
    with pytest.raises(UserError, match="No checkpoint"):
        tofu_report(tmp_path / "checkpoint-2")


def test_tofu_frontier_puts_every_method_s_checkpoints_in_one_table_and_plot(tmp_path):
    runs = {}
    for method, points in (("intervention", ((2, 0.01, 0.6), (4, 0.2, 0.55))), ("grad_diff", ((2, 0.001, 0.5),))):
        runs[method] = tmp_path / method
        for step, quality, utility in points:
            folder = runs[method] / f"checkpoint-{step}" / "eval"
            folder.mkdir(parents=True)
            pd.DataFrame([{"Forget Quality": quality, "Model Utility": utility}]).to_csv(
                folder / "aggregate_stat.csv", index=False)
    report = tofu_frontier_report(runs, tmp_path / "out").read_text()
    assert "| intervention | 4 | 0.200 | 0.550 |" in report and "| grad_diff | 2 | 0.001 | 0.500 |" in report
    assert (tmp_path / "out" / "tofu_frontier.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UserError, match="No checkpoint"):
        tofu_frontier_report({"npo": tmp_path / "missing"}, tmp_path / "out")
    # The model before unlearning starts every curve at step 0.
    before = tmp_path / "target_eval"
    before.mkdir()
    pd.DataFrame([{"Forget Quality": 0.0001, "Model Utility": 0.65}]).to_csv(before / "aggregate_stat.csv", index=False)
    report = tofu_frontier_report(runs, tmp_path / "out", start=before).read_text()
    assert "| intervention | 0 | 0.000 | 0.650 |" in report and "| grad_diff | 0 | 0.000 | 0.650 |" in report
    assert report.index("| intervention | 0 |") < report.index("| intervention | 2 |")
    with pytest.raises(UserError, match="evaluate the model before unlearning"):
        tofu_frontier_report(runs, tmp_path / "out", start=tmp_path / "nowhere")
