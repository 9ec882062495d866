"""Unlearning methods, registered by the name `forget_loss` selects.

A method is one small class (methods/base.py): which training items it needs, an optional
preparation pass before training, and its forget loss on a batch. Adding a method is one file
and one line in METHODS below.
"""

from methods.grad_ascent import GradAscent
from methods.grad_diff import GradDiff
from methods.idk import IDontKnow
from methods.intervention import Intervention
from methods.npo import NPO
from methods.whp import WHP
from utils import UserError

METHODS = {
    "intervention": Intervention,
    "whp": WHP,
    "npo": NPO,
    "grad_diff": GradDiff,
    "grad_ascent": GradAscent,
    "idk": IDontKnow,
}


def get_method(name: str):
    if name not in METHODS:
        raise UserError(f"Unknown forget_loss '{name}'. Valid: {', '.join(METHODS)}.")
    return METHODS[name]()
