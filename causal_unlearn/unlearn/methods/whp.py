"""Who's Harry Potter: the intervention loss on the WHP teacher (N=1, anchor penalty, one-hot
targets), i.e. cross-entropy against the generic-substitute model's argmax tokens."""

from causal_unlearn.unlearn.methods.intervention import Intervention


class WHP(Intervention):
    name = "whp"
