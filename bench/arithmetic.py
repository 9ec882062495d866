"""Multiply-adds of a decoder-only forward pass, counted from the model's config.

The teacher benchmark compares two paths that run the same model. Where both are limited by
arithmetic (a CPU), the ratio of the multiply-adds they ask for is the most one can gain over
the other; the benchmark prints it next to the measured speed ratio.

Counted per token: the q/k/v/o projections (k and v at the key-value width, for grouped-query
attention), the gated MLP's three matrices, the attention scores and weighted sum over every
earlier position, and the output projection onto the vocabulary where logits are asked for.
Norms, rotary embeddings and softmax are left out (a few percent at most).
"""


def _layer_macs_per_token(config) -> int:
    hidden = config.hidden_size
    kv_width = hidden // config.num_attention_heads * config.num_key_value_heads
    return 2 * hidden * hidden + 2 * hidden * kv_width + 3 * hidden * config.intermediate_size


def forward_macs(config, tokens: int, start: int = 0, projected: int = 0) -> int:
    """Multiply-adds to read `tokens` tokens at positions start.. (earlier ones cached) and project
    `projected` of them onto the vocabulary."""
    attended = sum(start + i + 1 for i in range(tokens))  # keys each new token attends to
    per_layer = _layer_macs_per_token(config) * tokens + 2 * config.hidden_size * attended
    return config.num_hidden_layers * per_layer + config.hidden_size * config.vocab_size * projected


def teacher_work_ratio(config, text_lengths: list[int], shared: int, positions: int) -> float:
    """Dense reference-style path / compact path, for one chunk.

    Dense: every edited text read whole, logits at every token. Compact: the shared prompt head
    (`shared` tokens, read once before the clock) comes from a cache, and logits only at the
    `positions` trained positions of each text.
    """
    dense = sum(forward_macs(config, length, 0, length) for length in text_lengths)
    compact = sum(forward_macs(config, length - shared, shared, positions) for length in text_lengths)
    return dense / compact
