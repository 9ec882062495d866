"""One place that turns questions and answers into the text a model family expects.

`render_chat` is what every stage calls: finetune (multi-turn QA), evaluation (a question
ending in the assistant position), attacks (prior turns as shots), the prompting baseline
(a system prompt). It returns the text and the character spans of each answer, so callers can
mask labels by character offsets instead of tokenizer-specific tricks.
"""

from dataclasses import dataclass

from causal_unlearn.core.models import Family
from causal_unlearn.core.errors import UserError


@dataclass(frozen=True)
class RenderedChat:
    text: str
    answer_spans: list[tuple[int, int]]  # [start, end) of each answer, end-of-turn token included


def render_chat(family: Family, tokenizer, turns: list[tuple[str, str | None]], system: str | None = None) -> RenderedChat:
    """Render (question, answer) turns; a final answer of None leaves the assistant turn open."""
    if not turns or any(answer is None for _, answer in turns[:-1]):
        raise ValueError("render_chat needs at least one turn, and only the last answer may be None")
    if family.prompt_format == "chat_template":
        return _render_with_template(family, tokenizer, turns, system)
    if family.prompt_format == "tags":
        return _render_with_tags(family, tokenizer, turns, system)
    raise UserError(f"Family {family.name}: prompt_format must be chat_template or tags, not '{family.prompt_format}'.")


def question_prompt(family: Family, tokenizer, question: str, system: str | None = None) -> str:
    """The text a model sees before it answers `question` (generation starts right after it)."""
    return render_chat(family, tokenizer, [(question, None)], system).text


def split_at_assistant_turn(family: Family, tokenizer, question: str, system: str | None = None) -> tuple[str, str]:
    """`question_prompt` cut where the assistant turn begins: (user part, assistant header).

    The soft-embedding attack inserts its vectors at the cut. For tags families the header is
    question_end_tag + answer_tag (the original's " [/INST]"); for chat templates it is what the
    generation prompt adds (SmolLM2: "<|im_start|>assistant\\n").
    """
    full = question_prompt(family, tokenizer, question, system)
    if family.prompt_format == "tags":
        header = family.question_end_tag + family.answer_tag
    else:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
        without = _template(tokenizer, messages, add_generation_prompt=False)
        header = full[len(without):] if full.startswith(without) else ""
    if not header or not full.endswith(header):
        raise UserError(f"Family {family.name}: its prompt format has no assistant turn after the question, so the "
                        f"attack cannot be placed before it; give the family a chat template with a generation "
                        f"prompt, or question_end_tag/answer_tag (config/model_config.yaml).")
    return full[: len(full) - len(header)], header


def _template(tokenizer, messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _render_with_template(family, tokenizer, turns, system) -> RenderedChat:
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"Family {family.name} uses prompt_format chat_template but its tokenizer has no chat template.")
    messages = [{"role": "system", "content": system}] if system else []
    spans = []
    for question, answer in turns:
        messages.append({"role": "user", "content": question})
        if answer is None:
            return RenderedChat(_template(tokenizer, messages, add_generation_prompt=True), spans)
        prefix = _template(tokenizer, messages, add_generation_prompt=True)
        messages.append({"role": "assistant", "content": answer})
        text = _template(tokenizer, messages, add_generation_prompt=False)
        if not text.startswith(prefix + answer):
            raise UserError(
                f"Family {family.name}: the chat template does not place the assistant answer right after "
                f"the generation prompt, so answer positions cannot be located; use prompt_format: tags."
            )
        spans.append(_span_with_end_of_turn(text, len(prefix), len(prefix) + len(answer), tokenizer.eos_token))
    return RenderedChat(text, spans)


def _span_with_end_of_turn(text: str, start: int, end: int, eos: str | None) -> tuple[int, int]:
    """Include the end-of-turn token in the trained span, so the model learns to stop."""
    if eos and text.startswith(eos, end):
        end += len(eos)
    return start, end


def _render_with_tags(family, tokenizer, turns, system) -> RenderedChat:
    bos = tokenizer.bos_token or ""
    eos = tokenizer.eos_token or ""
    text, spans = "", []
    for turn_index, (question, answer) in enumerate(turns):
        if system and turn_index == 0:
            question = family.system_tag_template.format(system=system) + question
        text += bos + family.question_start_tag + question + family.question_end_tag + family.answer_tag
        if answer is None:
            break
        start = len(text)
        text += answer + eos
        spans.append((start, len(text)))
    return RenderedChat(text, spans)
