"""Batching for training: dynamic padding of token sequences, and of the unlearning items with
their target distributions (teacher chunks, KL retain references) and retain texts."""

import numpy as np
import torch

from causal_unlearn.teacher.compaction import pad_rows


class PaddingCollator:
    """Pad a batch to its own longest sequence (dynamic padding, right side); labels if present."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)
        batch = {
            "input_ids": torch.tensor([f["input_ids"] + [self.pad_token_id] * (width - len(f["input_ids"])) for f in features]),
            "attention_mask": torch.tensor([[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features]),
        }
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] + [-100] * (width - len(f["labels"])) for f in features])
        return batch


def _pad(sequences: list[list], value, width: int | None = None) -> torch.Tensor:
    width = width or max((len(s) for s in sequences), default=0)
    return torch.tensor([list(s) + [value] * (width - len(s)) for s in sequences])


def _pad_rows_to(rows: np.ndarray, length: int) -> torch.Tensor:
    """(T, H) rows followed by zero rows up to `length`."""
    padded = np.zeros((length, rows.shape[-1]), dtype=np.float32)
    padded[:len(rows)] = rows
    return torch.from_numpy(padded)


def _pad_target_rows(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P, K) ids and probabilities. Items keep different numbers of tokens per row: every row
    is widened the neutral way (compaction.pad_rows); padded positions are masked by position_mask."""
    rows = [(np.asarray(i["topk_ids"]), np.asarray(i["topk_probs"], dtype=np.float32)) for i in items]
    width, length = max(ids.shape[-1] for ids, _ in rows), max(len(ids) for ids, _ in rows)
    all_ids = np.zeros((len(rows), length, width), dtype=np.int32)  # int32: half the bytes; the loss widens a block at a time
    all_probs = np.zeros((len(rows), length, width), dtype=np.float32)
    for index, (ids, probs) in enumerate(rows):
        ids, probs = pad_rows(ids, probs, width)
        all_ids[index, :len(ids)], all_probs[index, :len(probs)] = ids, probs
    return torch.from_numpy(all_ids), torch.from_numpy(all_probs)


class UnlearnCollator:
    """Dynamic padding of forget items (with DPO's preferred answer nested under "preferred") and
    their retain items into one batch dict: {"forget": ..., "retain": ...}."""

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def _texts(self, items: list[dict]) -> dict:
        batch = PaddingCollator(self.pad)(items)
        if "reference_nll" in items[0]:
            batch["reference_nll"] = torch.tensor([i["reference_nll"] for i in items])
        if "positions" in items[0]:  # target distributions (teacher chunks, KL retain references)
            batch["positions"] = _pad([i["positions"] for i in items], 0)
            batch["position_mask"] = _pad([[True] * len(i["positions"]) for i in items], False)
            batch["topk_ids"], batch["topk_probs"] = _pad_target_rows(items)
            batch["residual"] = _pad([i["residual"] for i in items], 0.0)
        if "preferred" in items[0]:  # DPO: the preferred answer to the same question
            batch["preferred"] = self._texts([i["preferred"] for i in items])
        if "reference_hidden" in items[0]:  # RMU: the frozen model's hidden states, (T, H) per item
            width = batch["input_ids"].shape[1]
            batch["reference_hidden"] = torch.stack([_pad_rows_to(i["reference_hidden"], width) for i in items])
        return batch

    def __call__(self, items: list[dict]) -> dict:
        batch = {"forget": self._texts(items)}
        if "retain" in items[0]:
            batch["retain"] = self._texts([i["retain"] for i in items])
        return batch
