"""The targets of a forget split: who is to be forgotten, and the text the teacher reads about them.

WPU (input_type=document): one target per person, the article. TOFU (input_type=question): one
target per QA pair, the answer, with the question as context; its author comes from
teacher.authors_file.
"""

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from causal_unlearn.core.data import load_split, require_fields, unique_documents
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.paths import resolve_repo_path
from causal_unlearn.teacher.names import find_mentions, name_variants


@dataclass
class Target:
    title: str  # the person to forget
    key: str  # WPU: the title; TOFU: the question
    context: str | None  # TOFU: the question (its names are swapped too); WPU: None
    text: str  # the document (WPU) or the answer (TOFU)


def load_targets(cfg: DictConfig) -> list[Target]:
    rows = load_split(cfg.data_path, cfg.split)
    if cfg.input_type == "document":
        require_fields(rows, ["title", "wikipage"], f"forget split '{cfg.split}'")
        targets = [Target(title, title, None, text) for title, text in unique_documents(rows)]
    elif cfg.input_type == "question":
        require_fields(rows, ["question", "answer"], f"forget split '{cfg.split}'")
        authors = _read_authors(cfg.teacher.authors_file)
        targets = [Target(_author_of(row, authors), row["question"], row["question"], row["answer"]) for row in rows]
    else:
        raise UserError(f"input_type must be 'document' or 'question', not '{cfg.input_type}'.")
    for target in targets:
        if not target.text.strip():
            raise UserError(f"The text for '{target.title}' in split '{cfg.split}' is empty; remove the row or fill it.")
    return targets


def _read_authors(path: str | None) -> list[str]:
    if not path:
        raise UserError("input_type=question needs teacher.authors_file (one target name per line, e.g. tofu_author.txt).")
    file = Path(resolve_repo_path(path))
    if not file.is_file():
        raise UserError(f"teacher.authors_file {path} does not exist.")
    return [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def _author_of(row: dict, authors: list[str]) -> str:
    """The one author a QA pair is about: full-name match first, then any name word."""
    text = row["question"] + " " + row["answer"]
    full = [a for a in authors if a in text]
    if len(full) == 1:
        return full[0]
    partial = [a for a in authors if any(find_mentions(text, [w]) for w in a.split() if len(w) > 2)]
    if len(partial) == 1:
        return partial[0]
    raise UserError(f"Cannot tell which author the question '{row['question'][:80]}' is about "
                    f"(matches: {full or partial or 'none'}); fix teacher.authors_file.")


def check_mentions(targets: list[Target]) -> None:
    """Every target's text names it; checked for all targets before any process builds its share."""
    for target in targets:
        variants = name_variants(target.title)
        if not find_mentions(target.text + " " + (target.context or ""), variants):
            raise UserError(f"The text of '{target.title}' never mentions the name (tried: {', '.join(variants[:4])}); "
                            f"check the title, or remove this target.")
