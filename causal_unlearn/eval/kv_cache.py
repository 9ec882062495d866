"""A key-value cache that grows by doubling, for token-by-token decoding.

transformers' DynamicLayer appends each new token with `torch.cat`, which copies the whole cache
at every step: for a batch of 16 reading 800 prompt tokens (a many-shot jailbreak) that copy is
about half of a decoding step of SmolLM2-135M on one CPU core (540 ms a step with it, 299 ms
without; docs/results.md, "Decoding with a growing KV cache"). A GrowingLayer keeps its keys and
values in a buffer with room to spare and writes each new token in place; the tensors the
attention reads are views of the filled part, so the values are the same as DynamicLayer's and
only the copies go.
"""

import torch
from transformers.cache_utils import DynamicLayer

# Room for this many tokens at least when a buffer is (re)allocated; then doubling.
MIN_CAPACITY = 64


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose update writes into a preallocated buffer, doubled when full."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        filled = self.get_seq_length()
        needed = filled + key_states.shape[-2]
        if not self._owns_current_tensors() or self._key_buffer.shape[-2] < needed \
                or self._key_buffer.shape[0] != key_states.shape[0]:
            self._reallocate(max(2 * needed, MIN_CAPACITY), key_states, value_states, filled)
        self._key_buffer[:, :, filled:needed] = key_states
        self._value_buffer[:, :, filled:needed] = value_states
        self.keys = self._key_buffer[:, :, :needed]
        self.values = self._value_buffer[:, :, :needed]
        return self.keys, self.values

    def _owns_current_tensors(self) -> bool:
        """False once crop / batch selection replaced self.keys by a tensor outside the buffer."""
        buffer = getattr(self, "_key_buffer", None)
        return buffer is not None and (self.keys.numel() == 0 or self.keys.data_ptr() == buffer.data_ptr())

    def _reallocate(self, capacity: int, key_states, value_states, filled: int) -> None:
        rows, heads = key_states.shape[:2]
        keys = key_states.new_empty(rows, heads, capacity, key_states.shape[-1])
        values = value_states.new_empty(rows, heads, capacity, value_states.shape[-1])
        if filled:
            keys[:, :, :filled] = self.keys
            values[:, :, :filled] = self.values
        self._key_buffer, self._value_buffer = keys, values


def make_growing(cache):
    """Turn the plain DynamicLayers of `cache` into GrowingLayers holding the same keys and
    values (one copy); other layer kinds (sliding windows) are left as they are. Returns `cache`."""
    for index, layer in enumerate(getattr(cache, "layers", [])):
        if type(layer) is DynamicLayer and layer.is_initialized:
            growing = GrowingLayer()
            growing.update(layer.keys, layer.values)
            cache.layers[index] = growing
    return cache
