"""Evaluation metrics on the tiny model: batched results equal per-item ones; logs keep the schema."""

import json
import math

import pandas as pd
import pytest
import torch

from aggregate_wpu import aggregate_wpu, upsert_summary
from evaluate_util import answer_losses, generate_answers, rouge_recalls
from prompts import question_prompt, render_chat

from conftest import generate_alone, run_cli, talkative

QUESTIONS = ["Where was Harlan J. Whitcombe born?", "What is H2O?", "Name a colour of the sky on a clear day, please."]
ANSWERS = ["Varnholt", "water", "blue"]


def test_rouge_recall_is_share_of_gold_tokens_found():
    scores = rouge_recalls(["the Lenmark Prize", "Paris"], ["He won the Lenmark Prize in 1958.", "London"])
    assert scores[0]["rougeL_recall"] == pytest.approx(1.0)
    assert scores[1]["rougeL_recall"] == 0.0
    assert rouge_recalls(["red blue green"], ["blue"])[0]["rouge1_recall"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("system, questions, answers", [
    (None, QUESTIONS, ANSWERS),
    # A system prompt and one question asked with several answers (TOFU's perturbed options): the
    # shared prefix then runs into the question, and must stop before the first answer token.
    ("Answer briefly and truthfully.", [QUESTIONS[0]] * 4, ["Varnholt", "Ostremere", "Varnholt Bay", "ice"]),
])
def test_batched_answer_loss_equals_one_by_one(tiny_family, tiny_tokenizer, tiny_model, system, questions, answers):
    tiny_model = talkative(tiny_model)  # position-sensitive, so a wrong position or prefix shows
    batched = answer_losses(tiny_model, tiny_tokenizer, tiny_family, questions, answers, batch_size=3, system=system)
    for question, answer, (nll, count) in zip(questions, answers, batched):
        chat = render_chat(tiny_family, tiny_tokenizer, [(question, answer)], system)
        prompt_ids = tiny_tokenizer(chat.text[: chat.answer_spans[0][0]], add_special_tokens=False)["input_ids"]
        answer_ids = tiny_tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + answer_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(tiny_model(ids).logits[0, :-1].float(), -1)
        manual = -sum(logprobs[len(prompt_ids) - 1 + i, token].item() for i, token in enumerate(answer_ids))
        assert count == len(answer_ids)
        assert nll == pytest.approx(manual, rel=1e-4)


def test_batched_generation_equals_unbatched_and_leaves_tokenizer_alone(tiny_family, tiny_tokenizer, tiny_model):
    prompts = [question_prompt(tiny_family, tiny_tokenizer, q) for q in QUESTIONS]
    batched = generate_answers(tiny_model, tiny_tokenizer, prompts, max_new_tokens=6, batch_size=3)
    single = [generate_alone(tiny_model, tiny_tokenizer, prompt, 6) for prompt in prompts]
    assert batched == single
    assert tiny_tokenizer.padding_side == "right"


def _eval_log(rouge, loss):
    keys = [str(i) for i in range(len(rouge))]
    return {"rougeL_recall": dict(zip(keys, rouge)), "avg_gt_loss": dict(zip(keys, loss)),
            "avg_paraphrased_loss": dict(zip(keys, loss)), "average_perturb_loss": {k: [l] for k, l in zip(keys, loss)}}


def test_wpu_aggregate_columns_and_degenerate_truth_ratio():
    logs = {"eval_log_hard_retain.json": _eval_log([1.0, 0.5], [0.1, 0.2]),
            "eval_log_general_retain.json": _eval_log([0.8], [0.3]),
            "eval_log_forget.json": _eval_log([0.0, 0.2], [2.0, 4.0])}
    row = aggregate_wpu(logs)
    assert list(row) == ["Hard Retain ROUGE", "Hard Retain Probability", "Hard Retain Truth Ratio",
                         "General Retain ROUGE", "General Retain Probability", "General Retain Truth Ratio",
                         "Forget ROUGE", "Forget Probability", "Forget Truth Ratio", "Model Utility", "Retain Utility"]
    assert row["Hard Retain ROUGE"] == pytest.approx(0.75)
    assert row["Forget Probability"] == pytest.approx((math.exp(-2) + math.exp(-4)) / 2)
    assert row["Forget Truth Ratio"] == 1.0 and row["Hard Retain Truth Ratio"] == 0.0 and row["Model Utility"] == 0.0
    informative = [row["Hard Retain ROUGE"], row["Hard Retain Probability"], row["General Retain ROUGE"],
                   row["General Retain Probability"]]
    assert row["Retain Utility"] == pytest.approx(len(informative) / sum(1 / v for v in informative))


def test_summary_rows_are_replaced_not_duplicated(tmp_path):
    summary = tmp_path / "summary.csv"
    upsert_summary(summary, "base", "forget_2_1", {"Forget ROUGE": 0.1})
    upsert_summary(summary, "implanted", "forget_2_1", {"Forget ROUGE": 0.9})
    upsert_summary(summary, "base", "forget_2_1", {"Forget ROUGE": 0.2})
    table = pd.read_csv(summary)
    assert sorted(table["method"]) == ["base", "implanted"]
    assert table.set_index("method").loc["base", "Forget ROUGE"] == 0.2


def test_evaluate_cli_writes_original_schema_and_skips_when_up_to_date(tmp_path):
    args = ["evaluate_util.py", "model_family=tiny-random", f"eval.save_dir={tmp_path}", "eval.generation.max_new_tokens=4",
            "eval.ds_size=3"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    aggregated = json.loads((tmp_path / "eval_log_aggregated.json").read_text())
    assert sorted(aggregated) == ["eval_log_forget.json", "eval_log_general_retain.json", "eval_log_hard_retain.json"]
    forget = aggregated["eval_log_forget.json"]
    assert {"avg_gt_loss", "gt_loss", "num_token_gt", "generated_text", "rouge1_recall", "rougeL_recall", "truth_ratio",
            "average_perturb_loss", "avg_paraphrased_loss"} <= set(forget)
    assert len(forget["generated_text"]["0"]) == 3 and len(forget["rougeL_recall"]) == 3
    second = run_cli(*args)
    assert second.returncode == 0 and "up to date" in second.stdout + second.stderr
    result = run_cli("aggregate_wpu.py", "--eval-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aggregate_stat.csv").is_file()


def test_evaluate_cli_unknown_split_is_one_line(tmp_path):
    result = run_cli("evaluate_util.py", "model_family=tiny-random", "split=forget_9_9", f"eval.save_dir={tmp_path}")
    assert result.returncode == 1
    assert "Unknown split 'forget_9_9'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "eval_log_aggregated.json").exists()


def test_a_folder_that_is_not_a_model_is_one_clear_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    result = run_cli("evaluate_util.py", "model_family=tiny-random", f"model_path={tmp_path}", f"eval.save_dir={tmp_path / 'out'}")
    assert result.returncode == 1 and "Could not load model weights" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "eval_log_aggregated.json").exists()


def test_a_split_without_rows_is_refused(tmp_path):
    for name in ("forget_x", "forget_x_hard_retain", "general_retain"):
        (tmp_path / f"{name}.json").write_text("")
    result = run_cli("evaluate_util.py", "model_family=tiny-random", f"data_path={tmp_path}", "split=forget_x",
                     f"eval.save_dir={tmp_path / 'out'}")
    assert result.returncode == 1 and "is empty" in result.stderr
