"""The original repo's module name for its Trainer; the Trainer and the batching live in the package.

    from dataloader import UnlearnTrainer, UnlearnCollator
"""

from causal_unlearn.unlearn.collators import UnlearnCollator  # noqa: F401
from causal_unlearn.unlearn.trainer import UnlearnTrainer  # noqa: F401
