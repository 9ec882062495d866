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
