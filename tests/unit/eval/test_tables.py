"""The summary table (eval/tables.py): one row per method and split."""

import pandas as pd

from causal_unlearn.eval.tables import upsert_summary


def test_summary_rows_are_replaced_not_duplicated(tmp_path):
    summary = tmp_path / "summary.csv"
    upsert_summary(summary, "base", "forget_2_1", {"Forget ROUGE": 0.1})
    upsert_summary(summary, "implanted", "forget_2_1", {"Forget ROUGE": 0.9})
    upsert_summary(summary, "base", "forget_2_1", {"Forget ROUGE": 0.2})
    table = pd.read_csv(summary)
    assert sorted(table["method"]) == ["base", "implanted"]
    assert table.set_index("method").loc["base", "Forget ROUGE"] == 0.2
