"""Unlearning methods, registered by the name `forget_loss` selects.

A method is one small class (base.py): which training items it needs, an optional
preparation pass before training, and its forget loss on a batch. Adding a method is one file
and one line in METHODS below.
"""

from causal_unlearn.core.errors import UserError
from causal_unlearn.unlearn.methods.ceu import CEU
from causal_unlearn.unlearn.methods.dpo import DPO
from causal_unlearn.unlearn.methods.grad_ascent import GradAscent
from causal_unlearn.unlearn.methods.grad_diff import GradDiff
from causal_unlearn.unlearn.methods.idk import IDontKnow
from causal_unlearn.unlearn.methods.intervention import Intervention
from causal_unlearn.unlearn.methods.npo import NPO
from causal_unlearn.unlearn.methods.rmu import RMU
from causal_unlearn.unlearn.methods.satimp import SatImp
from causal_unlearn.unlearn.methods.simnpo import SimNPO
from causal_unlearn.unlearn.methods.undial import UNDIAL
from causal_unlearn.unlearn.methods.wga import WGA
from causal_unlearn.unlearn.methods.whp import WHP

METHODS = {
    "intervention": Intervention,
    "whp": WHP,
    "npo": NPO,
    "grad_diff": GradDiff,
    "grad_ascent": GradAscent,
    "idk": IDontKnow,
    "simnpo": SimNPO,
    "dpo": DPO,
    "rmu": RMU,
    "undial": UNDIAL,
    "wga": WGA,
    "satimp": SatImp,
    "ceu": CEU,
}


def get_method(name: str):
    if name not in METHODS:
        raise UserError(f"Unknown forget_loss '{name}'. Valid: {', '.join(METHODS)}.")
    return METHODS[name]()
