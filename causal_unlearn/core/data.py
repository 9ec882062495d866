"""Datasets: one loader for WPU, TOFU and local folders, plus text-to-token helpers.

A `data_path` is either a Hugging Face dataset id (`Shiyu-Lab/Wikipedia_Person_Unlearn`,
`locuslab/TOFU`) or a local folder holding one JSON-lines file per config, `{config}.json`
(the layout of TOFU's own files, and of the embedded world `data/wpu_mini`).
"""

import json
import logging
from pathlib import Path

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.paths import resolve_repo_path

logger = logging.getLogger(__name__)


# JSON files a world folder may hold beside its splits: the answer judge's catalog
# (eval/answer_judge.py) and the teacher's replacement titles (teacher.replace_works). Not splits.
SIDE_FILES = {"answer_values", "replace_works"}


def local_configs(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.json") if p.stem not in SIDE_FILES)


def _read_json_lines(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not valid UTF-8 ({err.reason} at byte {err.start}); re-save it as UTF-8.") from None
    stripped = text.lstrip()
    if stripped.startswith("["):  # also accept one JSON array
        return json.loads(stripped)
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{line_number} is not valid JSON ({err.msg}); each line must be one JSON object.") from None
    return rows


def _load_hub_split(data_path: str, config: str) -> list[dict]:
    import datasets

    try:
        names = datasets.get_dataset_config_names(data_path)
    except Exception as err:  # offline, private or misspelt repo: say which and how to fix
        raise UserError(
            f"Cannot reach dataset '{data_path}' ({type(err).__name__}). Use a local folder of "
            f"{{config}}.json files as data_path, or check the id and your network."
        ) from None
    if config not in names:
        raise UserError(f"Unknown split '{config}' for {data_path}. Available: {', '.join(sorted(names))}.")
    return list(datasets.load_dataset(data_path, config)["train"])


def load_split(data_path: str, config: str) -> list[dict]:
    """Rows of one config (WPU/TOFU name it 'split') as a list of dicts."""
    local = Path(resolve_repo_path(data_path))
    if local.is_dir():
        available = local_configs(local)
        if config not in available:
            raise UserError(f"Unknown split '{config}' in {local}. Available: {', '.join(available) or 'none'}.")
        rows = _read_json_lines(local / f"{config}.json")
    elif data_path.startswith((".", "/", "~")) or local.suffix:
        raise UserError(f"data_path '{data_path}' does not exist; point it at a folder of {{config}}.json files.")
    else:
        rows = _load_hub_split(data_path, config)
    logger.info("Loaded %d rows of %s from %s", len(rows), config, data_path)
    return rows


def require_fields(rows: list[dict], fields: list[str], where: str) -> None:
    """Fail with one line naming a missing or non-text field, instead of an error deep in a stage."""
    if not rows:
        raise UserError(f"{where} is empty; it needs rows with fields {', '.join(fields)}.")
    for index, row in enumerate(rows):
        missing = [field for field in fields if field not in row]
        if missing:
            raise UserError(f"{where} row {index} lacks field(s) {', '.join(missing)}; every row needs {', '.join(fields)}.")
        not_text = [field for field in fields if not isinstance(row[field], str)]
        if not_text:
            field = not_text[0]
            raise UserError(f"{where} row {index}: field '{field}' is {row[field]!r}, not text; write it as a string "
                            f"(in quotes) in the data file.")


def unique_documents(rows: list[dict], title_key: str = "title", text_key: str = "wikipage") -> list[tuple[str, str]]:
    """(title, text) once per title: WPU repeats the article on every QA row of a person."""
    seen: dict[str, str] = {}
    for row in rows:
        seen.setdefault(row[title_key], row[text_key])
    return list(seen.items())


def encode_with_labels(tokenizer, text: str, answer_spans: list[tuple[int, int]], max_length: int) -> dict:
    """Token ids of `text` with labels only on tokens that start inside an answer span.

    Uses character offsets, so it works for any tokenizer (no per-tokenizer index tricks).
    """
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_length)
    labels = []
    for token_id, (start, _end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
        inside = any(span_start <= start < span_end for span_start, span_end in answer_spans)
        labels.append(token_id if inside else -100)
    return {"input_ids": encoded["input_ids"], "labels": labels}


def encode_document(tokenizer, text: str, max_length: int) -> dict:
    """A plain document: every token is a training target."""
    ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    return {"input_ids": ids, "labels": list(ids)}
