"""Unlearning: training items, collators, losses, the Trainer, step plan, checkpoints, the forget and finetune stages, methods/."""
