"""The growing KV cache holds what transformers' DynamicLayer holds, and greedy decoding that lets
finished rows leave the batch gives every row the tokens it gives with them kept."""

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from causal_unlearn.eval.decoding import continue_greedily, forward_after_prefix, pack_after_prefix
from causal_unlearn.eval.kv_cache import GrowingLayer, make_growing
from helpers import talkative


def _kv(rows, tokens, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, tokens, 4, generator=generator), torch.randn(rows, 2, tokens, 3, generator=generator)


def test_growing_layer_matches_dynamic_layer_through_updates_crops_and_selections():
    plain, growing = DynamicLayer(), GrowingLayer()
    steps = [("update", 5), ("update", 1), ("update", 70), ("crop", -3), ("update", 1), ("select", None),
             ("update", 2), ("repeat", None), ("update", 40)]
    rows = 3
    for seed, (action, size) in enumerate(steps):
        if action == "update":
            keys, values = _kv(rows, size, seed)
            out_plain, out_growing = plain.update(keys, values), growing.update(keys, values)
            assert all(torch.equal(a, b) for a, b in zip(out_plain, out_growing))
        elif action == "crop":
            plain.crop(size), growing.crop(size)
        elif action == "select":
            keep = torch.tensor([0, 2])
            plain.batch_select_indices(keep), growing.batch_select_indices(keep)
            rows = 2
        else:
            plain.batch_repeat_interleave(2), growing.batch_repeat_interleave(2)
            rows = 4
        assert growing.get_seq_length() == plain.get_seq_length()
        assert torch.equal(growing.keys, plain.keys) and torch.equal(growing.values, plain.values)


def test_make_growing_keeps_the_cache_contents():
    cache = DynamicCache()
    keys, values = _kv(2, 6, 0)
    cache.update(keys, values, 0)
    make_growing(cache)
    assert isinstance(cache.layers[0], GrowingLayer)
    assert torch.equal(cache.layers[0].keys, keys) and torch.equal(cache.layers[0].values, values)


def test_rows_that_stop_leave_the_batch_without_changing_the_others(tiny_tokenizer, tiny_model):
    model = talkative(tiny_model)
    prompts = ["Where was Harlan born?", "What is H2O?", "Name a colour.", "Who drew the Varnholt atlas?"]
    encoded = [tiny_tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    batch = pack_after_prefix(encoded, 0, pad_left=True)

    def decode(stops):
        output = forward_after_prefix(model, batch, None, "cpu", use_cache=True)
        return continue_greedily(model, output, batch.attention_mask, batch.position_ids[:, -1:], 12, stops)

    free = decode({-1})  # no row ever stops: every row runs the 12 steps in the full batch
    stops = {free[0][2], free[1][6]}  # row 0 stops at step 3 at the latest, row 1 at step 7
    expected = [row[: next((i for i, t in enumerate(row) if t in stops), len(row))] for row in free]
    assert len(expected[0]) <= 2 and len({len(row) for row in expected}) > 1  # rows really stop apart
    assert decode(stops) == expected
