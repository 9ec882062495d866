"""The teacher artifact: what teacher.py writes and forget.py reads.

One safetensors file per (model, split, teacher settings). Tensors hold, concatenated over
chunks: the student's token ids, the trained positions, and per position the teacher's kept
token ids and probabilities (a varying number per position, compaction.py; stored without
padding, with the count per position) plus the residual mass. The safetensors header carries the metadata
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
from causal_unlearn.teacher.compaction import first_probability

FORMAT_VERSION = 3  # 3: a varying number of kept tokens per position
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
        "kept": torch.from_numpy(np.concatenate([t.kept for t in teachers]).astype(np.int32)),
        "kept_ids": torch.from_numpy(_narrow_ids(np.concatenate([_unpadded(t.topk_ids, t.kept) for t in teachers]))),
        # compaction.py already rounds them to float16 (all but the first, recomputed on reading).
        "kept_probs": torch.from_numpy(np.concatenate([_unpadded(t.topk_probs, t.kept) for t in teachers]).astype(np.float16)),
        "residual": torch.from_numpy(np.concatenate([t.residual for t in teachers])),
    }


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
        tensors = load_file(str(path))
        record = _read_record(path)
        meta, chunk_info = record["meta"], record["chunks"]
    except (SafetensorError, KeyError, OSError, ValueError, TypeError) as err:
        raise UserError(f"Teacher artifact {path} is unreadable ({type(err).__name__}); delete it and rerun teacher.py.") from None
    chunks = []
    kept_all = tensors["kept"].numpy()
    entry_offsets = np.concatenate([[0], np.cumsum(kept_all)])
    for index, info in enumerate(chunk_info):
        i0, i1 = tensors["input_offsets"][index: index + 2].tolist()
        p0, p1 = tensors["position_offsets"][index: index + 2].tolist()
        kept, e0, e1 = kept_all[p0:p1], entry_offsets[p0], entry_offsets[p1]
        ids = tensors["kept_ids"][e0:e1].numpy().astype(np.int32)
        first_ids = ids[entry_offsets[p0:p1] - e0]  # every row keeps at least one token
        probs, residual = _padded(tensors["kept_probs"][e0:e1].numpy().astype(np.float32), kept, 0.0), tensors["residual"][p0:p1].numpy()
        probs[:, 0] = first_probability(probs, residual)  # stored at float16; exact again from the rest
        teacher = ChunkTeacher(info["text"], tensors["input_ids"][i0:i1].tolist(), tensors["positions"][p0:p1].numpy(),
                               _padded(ids, kept, first_ids), probs, residual, kept)
        chunks.append(TargetChunk(info["target"], info["key"], teacher))
    return meta, chunks
