"""Next-token logits with the prompt head read once (teacher/forward.py) equal a full forward pass."""

import torch

from causal_unlearn.teacher.alignment import encode
from causal_unlearn.teacher.chunk_teacher import fixed_prompt_prefix, prompt_for
from causal_unlearn.teacher.forward import next_token_logits
from helpers import talkative

CHUNK = "Harlan J. Whitcombe was a cartographer from Varnholt. Whitcombe's atlas won the Lenmark Prize."


def test_reading_the_prompt_head_once_gives_the_full_forward_logits(tiny_family, tiny_tokenizer, tiny_model):
    model = talkative(tiny_model)
    names = ["Alfred Barrow", "Moshe Itzik", "Ann Drummond"]
    texts = [encode(tiny_tokenizer, prompt_for(tiny_family, tiny_tokenizer, name, True), CHUNK[: 40 + 15 * i]).ids
             for i, name in enumerate(names)]  # different lengths: rows are padded
    prefix = fixed_prompt_prefix(tiny_family, tiny_tokenizer, None, True)
    assert len(prefix) > 5 and all(ids[:len(prefix)] == prefix for ids in texts)
    wanted = [list(range(len(prefix), len(ids))) for ids in texts]
    caches = {}
    for micro_batch in (1, 2):
        with_prefix = list(next_token_logits(model, texts, wanted, micro_batch, prefix, caches))
        for ids, positions, rows in zip(texts, wanted, with_prefix):
            with torch.no_grad():
                full = model(torch.tensor([ids])).logits[0, positions].float()
            assert torch.allclose(rows, full, atol=1e-4, rtol=1e-4)
    assert list(caches) == [tuple(prefix)]  # read once, reused by the second call
    # A requested position inside the prefix: the prefix is only shared up to it.
    early = [[3] + w for w in wanted]
    rows = next(next_token_logits(model, texts[:1], early[:1], 1, prefix))
    with torch.no_grad():
        assert torch.allclose(rows, model(torch.tensor([texts[0]])).logits[0, early[0]].float(), atol=1e-4, rtol=1e-4)
