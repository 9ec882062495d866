"""The unlearning Trainer: a thin subclass of the Hugging Face Trainer whose loss is the chosen
method's forget loss plus `retain_strength` times a retain loss on a retain text: the causal-LM
loss (retain_loss=ce, the original's) or the KL to the original model's next-token
distributions stored on the retain item (retain_loss=kl)."""

from transformers import Trainer

from losses import mean_positional_kl, mean_token_nll


class UnlearnTrainer(Trainer):
    def __init__(self, *args, method, retain_strength: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.retain_strength = retain_strength
        # Our losses are means over the micro-batch; let the Trainer divide by accumulation steps.
        self.loss_is_scaled_for_ga = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.method.forget_loss(model, inputs["forget"])
        retain = inputs.get("retain")
        if self.retain_strength and retain is not None:
            logits = model(input_ids=retain["input_ids"], attention_mask=retain["attention_mask"]).logits
            retain_loss = mean_positional_kl(logits, retain) if "topk_ids" in retain else mean_token_nll(logits, retain["labels"])
            loss = loss + self.retain_strength * retain_loss
        return (loss, None) if return_outputs else loss
