"""Gradient difference: gradient ascent on the forget texts plus the retain loss
(retain_strength, 1 in the original's pipelines)."""

from causal_unlearn.unlearn.methods.grad_ascent import GradAscent


class GradDiff(GradAscent):
    name = "grad_diff"
