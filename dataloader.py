"""The unlearning Trainer: a thin subclass of the Hugging Face Trainer whose loss is the chosen
method's forget loss plus `retain_strength` times the causal-LM loss on a retain text."""

from transformers import Trainer

from losses import mean_token_nll


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
            loss = loss + self.retain_strength * mean_token_nll(logits, retain["labels"])
        return (loss, None) if return_outputs else loss
