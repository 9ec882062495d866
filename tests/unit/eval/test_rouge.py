"""ROUGE recall (eval/rouge.py)."""

import pytest

from causal_unlearn.eval.rouge import rouge_recalls


def test_rouge_recall_is_share_of_gold_tokens_found():
    scores = rouge_recalls(["the Lenmark Prize", "Paris"], ["He won the Lenmark Prize in 1958.", "London"])
    assert scores[0]["rougeL_recall"] == pytest.approx(1.0)
    assert scores[1]["rougeL_recall"] == 0.0
    assert rouge_recalls(["red blue green"], ["blue"])[0]["rouge1_recall"] == pytest.approx(1 / 3)
