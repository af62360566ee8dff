"""Training (relative pose model, LoRA, losses, evaluation): not built yet; see the issues."""
