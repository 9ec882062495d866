"""Answer losses of the QA evaluation (eval/qa_eval.py) on the tiny model: batched equals one by one."""

import pytest
import torch

from causal_unlearn.core.prompts import render_chat
from causal_unlearn.eval.qa_eval import answer_losses
from helpers import talkative

QUESTIONS = ["Where was Harlan J. Whitcombe born?", "What is H2O?", "Name a colour of the sky on a clear day, please."]
ANSWERS = ["Varnholt", "water", "blue"]


@pytest.mark.parametrize("count_end_token", [False, True])
@pytest.mark.parametrize("system, questions, answers", [
    (None, QUESTIONS, ANSWERS),
    # A system prompt and one question asked with several answers (TOFU's perturbed options): the
    # shared prefix then runs into the question, and must stop before the first answer token.
    ("Answer briefly and truthfully.", [QUESTIONS[0]] * 4, ["Varnholt", "Ostremere", "Varnholt Bay", "ice"]),
])
def test_batched_answer_loss_equals_one_by_one(tiny_family, tiny_tokenizer, tiny_model, system, questions, answers,
                                                count_end_token):
    tiny_model = talkative(tiny_model)  # position-sensitive, so a wrong position or prefix shows
    batched = answer_losses(tiny_model, tiny_tokenizer, tiny_family, questions, answers, batch_size=3, system=system,
                            count_end_token=count_end_token)
    for question, answer, (nll, count) in zip(questions, answers, batched):
        chat = render_chat(tiny_family, tiny_tokenizer, [(question, answer)], system)
        prompt_ids = tiny_tokenizer(chat.text[: chat.answer_spans[0][0]], add_special_tokens=False)["input_ids"]
        answer_ids = tiny_tokenizer(answer, add_special_tokens=False)["input_ids"]
        if count_end_token:  # the original's convention: the end-of-turn token that closes the answer counts too
            answer_ids = answer_ids + [tiny_tokenizer.convert_tokens_to_ids(tiny_tokenizer.eos_token)]
        ids = torch.tensor([prompt_ids + answer_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(tiny_model(ids).logits[0, :-1].float(), -1)
        manual = -sum(logprobs[len(prompt_ids) - 1 + i, token].item() for i, token in enumerate(answer_ids))
        assert count == len(answer_ids)
        assert nll == pytest.approx(manual, rel=1e-4)


def _task():
    return {"name": "eval_log_forget", "question_key": "question", "answer_key": "answer", "base_answer_key": "answer",
            "perturbed_answer_key": "answer", "max_new_tokens": 4, "batch_size": 2, "count_end_token": True,
            "normalize_gt": False}


@pytest.mark.parametrize("typed", [True, False])
def test_eval_log_holds_the_answer_class_only_where_the_judge_runs(tiny_family, tiny_tokenizer, tiny_model, typed):
    from causal_unlearn.eval.answer_judge import classify_answer
    from causal_unlearn.eval.qa_eval import evaluate_task

    catalog = {"town": ["Varnholt", "Ostremere"], "year": ["1921"]}
    rows = [{"question": QUESTIONS[0], "answer": "Varnholt", "answer_type": "town"},
            {"question": "In which year was Harlan J. Whitcombe born?", "answer": "1921", "answer_type": "year"}]
    if not typed:
        rows = [{"question": row["question"], "answer": row["answer"]} for row in rows]
    log = evaluate_task(tiny_model, tiny_tokenizer, tiny_family, rows, _task(), catalog=catalog)
    if not typed:
        assert "answer_class" not in log
        return
    generated = [log["generated_text"][key][1] for key in ("0", "1")]
    expected = [classify_answer(text, row["answer"], row["answer_type"], catalog, row["question"])
                for row, text in zip(rows, generated)]
    assert log["answer_class"] == {"0": expected[0], "1": expected[1]}


def test_rouge_reference_is_the_gold_answer_cut_at_max_length_and_decoded(tiny_family, tiny_tokenizer):
    from causal_unlearn.core.prompts import question_prompt
    from causal_unlearn.eval.qa_eval import decoded_golds
    from causal_unlearn.eval.rouge import rouge_recalls

    question, answer = QUESTIONS[0], "alpha beta gamma delta"  # one token per word in this vocabulary
    prompt_tokens = len(tiny_tokenizer(question_prompt(tiny_family, tiny_tokenizer, question), add_special_tokens=False)
                        ["input_ids"])
    golds = [decoded_golds(tiny_tokenizer, tiny_family, [question], [answer], None, cap)[0]
             for cap in (None, prompt_tokens + 2, prompt_tokens)]
    assert golds == [answer, "alpha beta", ""]  # no cap; two answer tokens fit; none fits
    # The original's ROUGE: recall against what survived the cut (2 of 2 words), not the whole answer (2 of 4).
    recalls = [score["rougeL_recall"] for score in rouge_recalls([golds[1], answer], ["alpha beta"] * 2)]
    assert recalls == [1.0, 0.5]


def test_evaluation_scores_and_logs_the_cut_gold_answer(tiny_family, tiny_tokenizer, tiny_model):
    from causal_unlearn.core.prompts import question_prompt
    from causal_unlearn.eval.qa_eval import evaluate_task
    from causal_unlearn.eval.rouge import rouge_recalls

    rows = [{"question": QUESTIONS[0], "answer": "alpha beta gamma delta"}]
    prompt_tokens = len(tiny_tokenizer(question_prompt(tiny_family, tiny_tokenizer, QUESTIONS[0]),
                                       add_special_tokens=False)["input_ids"])
    log = evaluate_task(tiny_model, tiny_tokenizer, tiny_family, rows, {**_task(), "max_length": prompt_tokens + 1})
    _, generation, gold = log["generated_text"]["0"]
    assert gold == "alpha"
    assert log["rougeL_recall"]["0"] == rouge_recalls(["alpha"], [generation])[0]["rougeL_recall"]
    assert log["num_token_gt"]["0"] == 5  # the loss still scores the whole answer (4 tokens + end of turn)


def test_tasks_answered_together_get_each_task_its_own_answers(tiny_family, tiny_tokenizer, tiny_model):
    """answer_tasks batches every task's prompts in one call: each task gets back its own answers, the
    ones its own call gives; with a total-length cap it declines (each task keeps its own batches)."""
    from causal_unlearn.eval.decoding import generate_answers
    from causal_unlearn.eval.qa_eval import answer_tasks, task_prompts

    model = talkative(tiny_model)
    tasks = [{**_task(), "name": "eval_log_forget", "max_length": None, "max_new_tokens": 6, "batch_size": 3},
             {**_task(), "name": "eval_log_hard_retain", "max_length": None, "max_new_tokens": 6, "batch_size": 3}]
    rows = [[{"question": q, "answer": a} for q, a in zip(QUESTIONS, ANSWERS)],
            [{"question": "Who painted the ceiling of the mill?", "answer": "Oswin"},
             {"question": QUESTIONS[1], "answer": "water"}]]
    together = answer_tasks(model, tiny_tokenizer, tiny_family, tasks, rows)
    alone = [generate_answers(model, tiny_tokenizer, task_prompts(tiny_family, tiny_tokenizer, r, t), 6, 3)
             for t, r in zip(tasks, rows)]
    assert [len(a) for a in together] == [3, 2]
    assert together == alone
    assert len(set(together[0])) > 1  # the talkative model answers each question differently: a mix-up shows
    capped = [{**task, "max_length": 40} for task in tasks]
    assert answer_tasks(model, tiny_tokenizer, tiny_family, capped, rows) is None
