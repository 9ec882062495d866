"""Chat rendering (core/prompts.py): answer spans and the two prompt formats."""

from causal_unlearn.core.models import load_family
from causal_unlearn.core.prompts import render_chat


def test_chat_template_answer_spans_cover_answer_and_end_of_turn(tiny_family, tiny_tokenizer):
    chat = render_chat(tiny_family, tiny_tokenizer, [("Q1?", "A one."), ("Q2?", "A two.")], system="Be brief.")
    assert [chat.text[start:end] for start, end in chat.answer_spans] == ["A one.<|im_end|>", "A two.<|im_end|>"]
    assert chat.text.startswith("<|im_start|>system\nBe brief.")


def test_tags_format_matches_the_llama2_layout(tiny_tokenizer):
    family = load_family("llama2-7b")
    chat = render_chat(family, tiny_tokenizer, [("Who?", "Me."), ("Where?", None)], system="S")
    bos, eos = tiny_tokenizer.bos_token, tiny_tokenizer.eos_token
    assert chat.text == f"{bos}[INST] <<SYS>>\nS\n<</SYS>>\n\nWho? [/INST] Me.{eos}{bos}[INST] Where? [/INST] "
    assert [chat.text[s:e] for s, e in chat.answer_spans] == [f"Me.{eos}"]
    assert load_family("tofu_ft_llama2-7b").answer_tag == ""
