"""The original repo's module name for data loading; the loader lives in causal_unlearn/core/data.py.

A `data_path` is either a Hugging Face dataset id (`Shiyu-Lab/Wikipedia_Person_Unlearn`,
`locuslab/TOFU`) or a local folder holding one JSON-lines file per config, `{config}.json`.

    from data_module import load_split
    rows = load_split("data/wpu_mini", "forget_2_1")
"""

from causal_unlearn.core.data import (encode_document, encode_with_labels, load_split,  # noqa: F401
                                      require_fields, unique_documents)
from causal_unlearn.unlearn.collators import PaddingCollator  # noqa: F401
