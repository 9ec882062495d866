"""bench/arithmetic.py counts a forward pass's multiply-adds; torch's FLOP counter checks the count."""

import importlib.util

import torch
from torch.utils.flop_counter import FlopCounterMode

from helpers import REPO


def _load_arithmetic():
    """bench/arithmetic.py by path: putting bench/ on sys.path would let its teacher.py and common.py
    shadow other modules for the rest of the session."""
    spec = importlib.util.spec_from_file_location("bench_arithmetic", REPO / "bench" / "arithmetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_arithmetic = _load_arithmetic()
forward_macs, teacher_work_ratio = _arithmetic.forward_macs, _arithmetic.teacher_work_ratio


def counted_macs(run) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() // 2


def causal_attention_macs(config, tokens: int, start: int) -> int:
    # torch's counter does not see inside CPU SDPA: scores and weighted sum over the keys each new
    # token sees, start + 1 for the first up to start + tokens for the last
    return config.num_hidden_layers * 2 * config.hidden_size * (tokens * start + tokens * (tokens + 1) // 2)


def test_the_count_matches_torchs_counter_for_a_whole_text_a_cached_head_and_some_positions(tiny_model):
    config, ids = tiny_model.config, torch.randint(0, 1000, (1, 40))
    whole = counted_macs(lambda: tiny_model(ids))
    assert whole == forward_macs(config, 40, 0, 40) - causal_attention_macs(config, 40, 0)

    decoder, head = tiny_model.get_decoder(), tiny_model.get_output_embeddings()
    with torch.no_grad():
        cache = decoder(input_ids=ids[:, :15], use_cache=True).past_key_values
    tail = counted_macs(lambda: head(decoder(input_ids=ids[:, 15:], past_key_values=cache).last_hidden_state[:, -7:]))
    assert tail == forward_macs(config, 25, 15, 7) - causal_attention_macs(config, 25, 15)


def test_the_work_ratio_is_one_for_equal_work_and_grows_with_what_the_compact_path_skips(tiny_model):
    config = tiny_model.config
    assert teacher_work_ratio(config, [50, 50], shared=0, positions=50) == 1
    assert teacher_work_ratio(config, [50, 50], shared=0, positions=30) > 1  # logits at fewer positions
    assert teacher_work_ratio(config, [50, 50], shared=20, positions=30) > teacher_work_ratio(config, [50, 50], 10, 30)


def _load_stage_work():
    spec = importlib.util.spec_from_file_location("bench_stage_work", REPO / "bench" / "stage_work.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_limits_counter_sees_the_cpu_attention_kernel(tiny_model):
    """bench/limits.py adds the CPU attention kernel to torch's table: its count then covers the
    attention that the plain counter misses, and agrees with the arithmetic to within 1%."""
    config, ids = tiny_model.config, torch.randint(0, 1000, (1, 64))
    with torch.no_grad():
        with_attention = _load_stage_work().count_macs(lambda: tiny_model(ids))
        without = counted_macs(lambda: tiny_model(ids))
    expected = forward_macs(config, 64, 0, 64)
    assert with_attention > without
    assert abs(with_attention - expected) <= 0.01 * expected
