"""Evaluation: decoding, QA evaluation, ROUGE, WPU and TOFU aggregation, strangers, report, every-checkpoint evaluation."""
