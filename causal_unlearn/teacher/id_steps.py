"""Token ids of compact teacher rows stored as one-byte steps.

After its top token, each row's kept ids are in ascending order (compaction.py), so consecutive ids
are close: on the embedded world 97% of the steps between them are below 255. Each id is stored as
its step from the previous id of the row (from 0 at the row's start) in one byte; a step of 255 or
more is written as the marker 255 and the id itself goes, whole, to a separate `escapes` array. This
takes the ids from 2 bytes each (a vocabulary below 65536) to about 1.1, a quarter of the artifact.

Both directions work on the rows' entries concatenated (row after row), vectorised.
"""

import numpy as np

ESCAPE = 255


def _row_starts(counts: np.ndarray) -> np.ndarray:
    """(M,) bool: the entries that open a row, for rows of `counts` entries each."""
    total = int(counts.sum())
    starts = np.zeros(total, dtype=bool)
    starts[np.cumsum(counts)[counts > 0] - counts[counts > 0]] = True
    return starts


def encode(ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending ids of rows (flat, M) with `counts` entries per row -> (steps uint8 (M,), escaped ids (E,))."""
    ids = ids.astype(np.int64)
    previous = np.concatenate([[0], ids[:-1]])
    previous[_row_starts(counts)] = 0
    steps = ids - previous
    escaped = steps >= ESCAPE
    return np.where(escaped, ESCAPE, steps).astype(np.uint8), ids[escaped]


def decode(steps: np.ndarray, escapes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inverse of encode: the flat ids (M,) as int64."""
    values = steps.astype(np.int64)
    escaped = steps == ESCAPE
    values[escaped] = escapes
    # A run of steps restarts at each row's start and at each escaped (whole) id: there the value is
    # an id, after it each value adds to the previous id.
    restarts = escaped | _row_starts(counts)
    totals = np.cumsum(values)
    first = np.flatnonzero(restarts)
    before_run = totals[first] - values[first]
    return totals - before_run[np.cumsum(restarts) - 1]
