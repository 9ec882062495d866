"""Greedy decoding with a shared prefix (eval/decoding.py) answers exactly as one prompt at a time would."""

from causal_unlearn.core.prompts import question_prompt, render_chat
from causal_unlearn.eval.decoding import common_prefix_length, generate_answers
from helpers import generate_alone, talkative

QUESTIONS = ["Where was Harlan J. Whitcombe born?", "What is H2O?", "Name a colour of the sky on a clear day, please."]


def test_batched_generation_equals_unbatched_and_leaves_tokenizer_alone(tiny_family, tiny_tokenizer, tiny_model):
    prompts = [question_prompt(tiny_family, tiny_tokenizer, q) for q in QUESTIONS]
    batched = generate_answers(tiny_model, tiny_tokenizer, prompts, max_new_tokens=6, batch_size=3)
    single = [generate_alone(tiny_model, tiny_tokenizer, prompt, 6) for prompt in prompts]
    assert batched == single
    assert tiny_tokenizer.padding_side == "right"


def test_shared_shots_are_read_once_and_change_no_answer(tiny_family, tiny_tokenizer, tiny_model):
    model = talkative(tiny_model)
    shots = [("Where was Ilse Marrowby born?", "In Ostremere, by the sea."),
             ("What did Tobiah Grennick study?", "The stars above Varnholt.")]
    questions = ["Who?", "What did Harlan J. Whitcombe draw, and where did he publish his first atlas?",
                 "Where was Zoë Ellingrath born?"]
    prompts = [render_chat(tiny_family, tiny_tokenizer, shots + [(q, None)]).text for q in questions]
    encoded = [tiny_tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    shared = common_prefix_length(encoded)
    assert shared > 20 and max(map(len, encoded)) - min(map(len, encoded)) > 5  # a real prefix, real padding
    together = generate_answers(model, tiny_tokenizer, prompts, max_new_tokens=8, batch_size=2)
    alone = [generate_alone(model, tiny_tokenizer, prompt, 8) for prompt in prompts]
    assert together == alone
    assert len(set(together)) > 1 and all(answer for answer in together)  # real, different answers


def test_common_prefix_length():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_length([[5], [6]]) == 0


def test_answer_budget_is_max_length_minus_the_padded_prompt():
    from causal_unlearn.eval.decoding import answer_budget

    assert answer_budget(48, None, 38) == 48  # no cap: max_new_tokens alone
    assert answer_budget(200, 200, 38) == 162  # the original: 200 tokens in all
    assert answer_budget(48, 200, 38) == 48  # the smaller of the two
    assert answer_budget(48, 40, 38) == 2
    assert answer_budget(48, 30, 38) == 1  # a prompt past the cap still gets one token, as in generate()


def test_max_length_counts_the_prompt_padded_to_the_batch_longest(tiny_family, tiny_tokenizer, tiny_model):
    model = talkative(tiny_model)
    prompts = [question_prompt(tiny_family, tiny_tokenizer, q) for q in QUESTIONS[1:]]
    lengths = [len(tiny_tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    longest = max(lengths)
    assert min(lengths) + 3 < longest  # the short prompt is padded by more than 3 tokens
    together = generate_answers(model, tiny_tokenizer, prompts, max_new_tokens=50, batch_size=2, max_length=longest + 3)
    # In one batch both prompts count as `longest` tokens: 3 new tokens each, as in the original.
    assert together == [generate_alone(model, tiny_tokenizer, prompt, 3) for prompt in prompts]
    alone = generate_answers(model, tiny_tokenizer, prompts, max_new_tokens=50, batch_size=1, max_length=longest + 3)
    assert alone == [generate_alone(model, tiny_tokenizer, prompt, longest + 3 - n) for prompt, n in zip(prompts, lengths)]
    assert len(alone[lengths.index(min(lengths))]) > len(together[lengths.index(min(lengths))])
