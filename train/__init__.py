"""Training: the relative pose model, LoRA, data pipeline, losses, trainer, evaluation and prediction."""
