"""The teacher artifact: what teacher.py writes and forget.py reads.

One safetensors file per (model, split, teacher settings). Tensors hold, concatenated over
chunks: the student's token ids, the trained positions, and per position the teacher's kept
tokens (a varying number per position, compaction.py; stored without padding, with the count per
position) plus the residual mass. Per position, the top token's id is stored whole and the other
kept ids, ascending, as one-byte steps (id_steps.py); their probabilities as scaled float16
(compaction.to_stored); the top token's probability is not stored, it is what the rest and the
residual leave of 1. The safetensors header carries the metadata
(model fingerprint, tokenizer, N, replacement names, chunking, prompt flags, top_k and
kl_budget, code version) and each chunk's target and text. Nothing is pickled; a full-vocabulary array is never
stored.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from causal_unlearn.core.errors import UserError
from causal_unlearn.teacher import id_steps
from causal_unlearn.teacher.compaction import first_probability, from_stored, to_stored

FORMAT_VERSION = 4  # 3: a varying number of kept tokens per position; 4: ids as steps, scaled float16
HEADER_KEY = "causal_unlearn_teacher"


@dataclass
class ChunkTeacher:
    """Teacher targets for one chunk, in the student's own token positions."""

    text: str  # the chunk text (without prompt)
    input_ids: list[int]  # what the student reads: prompt (if any) + chunk
    positions: np.ndarray  # int32 (P,): position t is trained to predict token t+1
    topk_ids: np.ndarray  # int32 (P, K): kept token ids, rows padded with their first id
    topk_probs: np.ndarray  # float32 (P, K): their probabilities, padding 0
    residual: np.ndarray  # float32 (P,): teacher mass outside the kept tokens
    kept: np.ndarray  # int32 (P,): how many of the K columns each row really keeps


@dataclass
class TargetChunk:
    target: str  # the person (title / author)
    key: str  # what the chunk belongs to: the title (WPU) or the question (TOFU)
    teacher: ChunkTeacher


def artifact_name(split: str, n: int, counter_fact_prompt: bool, change_name_back: bool, whp: bool) -> str:
    """The one naming rule, used by teacher.py to write and forget.py to read (WHP included)."""
    if whp:
        return f"{split}_whp.teacher.safetensors"
    return f"{split}_{n}_{counter_fact_prompt}_{change_name_back}.teacher.safetensors"


def _concat(chunks: list[TargetChunk]) -> dict[str, torch.Tensor]:
    teachers = [c.teacher for c in chunks]
    input_offsets = np.cumsum([0] + [len(t.input_ids) for t in teachers])
    position_offsets = np.cumsum([0] + [len(t.positions) for t in teachers])
    return {
        "input_ids": torch.tensor([i for t in teachers for i in t.input_ids], dtype=torch.int32),
        "input_offsets": torch.from_numpy(input_offsets.astype(np.int64)),
        "positions": torch.from_numpy(np.concatenate([t.positions for t in teachers]).astype(np.int32)),
        "position_offsets": torch.from_numpy(position_offsets.astype(np.int64)),
        **{key: torch.from_numpy(np.concatenate(parts)) for key, parts in
           zip(ROW_KEYS, zip(*(encode_rows(t.topk_ids, t.topk_probs, t.residual, t.kept) for t in teachers)))},
    }


ROW_KEYS = ("kept", "first_ids", "id_steps", "id_escapes", "kept_probs", "residual")


def encode_rows(ids: np.ndarray, probs: np.ndarray, residual: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, ...]:
    """Compact rows (padded, in compaction.py's order) as the arrays of ROW_KEYS."""
    rest_ids, rest_probs = _unpadded(ids[:, 1:], kept - 1), _unpadded(probs[:, 1:], kept - 1)
    steps, escapes = id_steps.encode(rest_ids, kept - 1)
    return (kept.astype(np.int32), _narrow_ids(ids[:, 0]), steps, _narrow_ids(escapes), to_stored(rest_probs),
            residual.astype(np.float32))


def stored_row_bytes(ids: np.ndarray, probs: np.ndarray, residual: np.ndarray, kept: np.ndarray) -> int:
    """What the artifact writes for these rows, their positions included (4 bytes each)."""
    return 4 * len(kept) + sum(part.nbytes for part in encode_rows(ids, probs, residual, kept))


def _unpadded(rows: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The kept entries of (P, K) padded rows, flattened row after row."""
    return rows[np.arange(rows.shape[-1])[None, :] < kept[:, None]]


def _narrow_ids(ids: np.ndarray) -> np.ndarray:
    """Token ids in 2 bytes when the vocabulary allows (Llama-2, SmolLM2), else 4."""
    return ids.astype(np.uint16) if ids.size == 0 or int(ids.max()) < 2**16 else ids.astype(np.int32)


def _padded(flat: np.ndarray, kept: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
    """Inverse of _unpadded: (P, max kept) rows, padded with `fill` (per row or one value)."""
    width = int(kept.max()) if len(kept) else 0
    mask = np.arange(width)[None, :] < kept[:, None]
    out = np.broadcast_to(np.asarray(fill, dtype=flat.dtype).reshape(-1, 1), mask.shape).copy()
    out[mask] = flat
    return out


def save_artifact(path: Path, chunks: list[TargetChunk], meta: dict) -> None:
    """Write atomically (temp file + rename): a killed run never leaves a file that looks complete."""
    if not chunks:
        raise UserError("No trainable chunk was found for any target; nothing to save.")
    # One header entry: safetensors writes several in arbitrary order, which would make
    # identical inputs give different bytes.
    record = {"format_version": FORMAT_VERSION, "meta": meta,
              "chunks": [{"target": c.target, "key": c.key, "text": c.teacher.text} for c in chunks]}
    header = {HEADER_KEY: json.dumps(record, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file(_concat(chunks), tmp, metadata=header)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_meta(path: Path) -> dict | None:
    """The artifact's metadata, or None when the file is missing or unreadable (truncated, tampered)."""
    try:
        return _read_record(path)["meta"]
    except (FileNotFoundError, SafetensorError, KeyError, OSError, ValueError, TypeError):
        return None


def _read_record(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {})[HEADER_KEY])


def load_artifact(path: Path) -> tuple[dict, list[TargetChunk]]:
    try:
        tensors = {key: value.numpy() for key, value in load_file(str(path)).items()}
        record = _read_record(path)
        meta, chunk_info = record["meta"], record["chunks"]
        if record.get("format_version") != FORMAT_VERSION:
            raise ValueError("an older format")
    except (SafetensorError, KeyError, OSError, ValueError, TypeError) as err:
        raise UserError(f"Teacher artifact {path} is unreadable ({type(err).__name__}: {err}); delete it and rerun "
                        "teacher.py.") from None
    chunks = []
    kept_all = tensors["kept"]
    rest_ids = id_steps.decode(tensors["id_steps"], tensors["id_escapes"], kept_all - 1)
    rest_probs = from_stored(tensors["kept_probs"])
    entry_offsets = np.concatenate([[0], np.cumsum(kept_all - 1)])
    for index, info in enumerate(chunk_info):
        i0, i1 = tensors["input_offsets"][index: index + 2].tolist()
        p0, p1 = tensors["position_offsets"][index: index + 2].tolist()
        kept, e0, e1 = kept_all[p0:p1], entry_offsets[p0], entry_offsets[p1]
        first_ids, residual = tensors["first_ids"][p0:p1].astype(np.int32), tensors["residual"][p0:p1]
        ids = np.concatenate([first_ids[:, None], _padded(rest_ids[e0:e1].astype(np.int32), kept - 1, first_ids)], axis=1)
        probs = np.concatenate([np.zeros((len(kept), 1), np.float32), _padded(rest_probs[e0:e1], kept - 1, 0.0)], axis=1)
        probs[:, 0] = first_probability(probs, residual)  # not stored: what the rest and the residual leave of 1
        teacher = ChunkTeacher(info["text"], tensors["input_ids"][i0:i1].tolist(), tensors["positions"][p0:p1],
                               ids, probs, residual, kept)
        chunks.append(TargetChunk(info["target"], info["key"], teacher))
    return meta, chunks
