"""The teacher's forward passes: next-token logits at chosen positions of many edited texts."""

import torch

from causal_unlearn.eval.decoding import common_prefix_length, forward_after_prefix, pack_after_prefix, read_prefix


@torch.no_grad()
def next_token_logits(model, texts_ids: list[list[int]], positions: list[list[int]], micro_batch: int,
                      prefix: list[int] | None = None, prefix_caches: dict | None = None):
    """Yield the logits at the requested positions of each sequence, in bounded micro-batches.

    The output projection runs only at the requested positions, and results are yielded one
    sequence at a time for the caller to fold in, so memory stays flat as N grows. The rows stay
    on the model's device: on a GPU, averaging and compaction run there too, and only the
    compact rows cross to the host.

    `prefix` (token ids every sequence may begin with: the chat header and the fixed words of
    the prompt) is read once into a KV cache, kept in `prefix_caches` across calls when given,
    and each sequence costs only its own tokens after it.
    """
    base, head = model.get_decoder(), model.get_output_embeddings()
    device = next(model.parameters()).device
    shared = _usable_prefix_length(prefix or [], texts_ids, positions)
    prefix_cache = _cached_prefix(base, tuple(texts_ids[0][:shared]), device, prefix_caches) if shared else None
    for start in range(0, len(texts_ids), micro_batch):
        batch = pack_after_prefix(texts_ids[start:start + micro_batch], shared, pad_left=False)
        hidden = forward_after_prefix(base, batch, prefix_cache, device, use_cache=prefix_cache is not None
                                      ).last_hidden_state
        for row, wanted in enumerate(positions[start:start + micro_batch]):
            yield head(hidden[row, torch.tensor(wanted, device=device) - shared]).float()


def _usable_prefix_length(prefix: list[int], texts_ids: list[list[int]], positions: list[list[int]]) -> int:
    """How much of `prefix` every sequence really begins with, short of its first requested position
    and its last token (every row must still read a token of its own)."""
    usable = common_prefix_length([prefix] + texts_ids) if prefix else 0
    return max(0, min([usable] + [min(w) for w in positions if w] + [len(ids) - 1 for ids in texts_ids]))


def _cached_prefix(base, prefix: tuple[int, ...], device, store: dict | None):
    if store is not None and prefix in store:
        return store[prefix]
    cache = read_prefix(base, list(prefix), device)
    if store is not None:
        store[prefix] = cache
    return cache
