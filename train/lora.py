"""Fine-tuning modes of a RelPoseModel: which weights train (LoRA via peft, head only, full), and
merging, exporting, saving and loading the result.

Modes (the paper's ablations): "lora" adds LoRA adapters to the aggregator's frame and global
blocks (not the DINO patch-embed blocks) and trains them plus the whole camera head, the rest
frozen; "head" trains the camera head only; "full" trains everything; "scratch" is "full" from a
random init (the trainer skips loading a checkpoint). DINOv2's unused mask token stays frozen.

An adapter file is one safetensors file with every trainable tensor of a LoRA-wrapped model (the
LoRA A/B matrices and the camera head), named as in the unwrapped model plus peft's
`.lora_A.default` parts, and the LoRA settings in its metadata; load it onto a model built (and
checkpoint-loaded) like the one it was trained from.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from relhead.train.model import RelPoseModel

FINETUNE_MODES = ("lora", "head", "full", "scratch")


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")  # module-name suffixes
    blocks: tuple[str, ...] = ("frame_blocks", "global_blocks")  # aggregator block lists that get LoRA


def target_pattern(settings: LoraSettings) -> str:
    """peft `target_modules` regex (matched against whole module names): only the aggregator's own
    blocks, so `aggregator.patch_embed.blocks.*` and `camera_head.*` never get adapters."""
    blocks = "|".join(map(re.escape, settings.blocks))
    targets = "|".join(map(re.escape, settings.targets))
    return rf"aggregator\.({blocks})\.\d+\.({targets})"


def add_lora(model: RelPoseModel, settings: LoraSettings = LoraSettings()) -> nn.Module:
    """Wrap `model` (in place) in a peft model with LoRA adapters; the camera head stays trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=target_pattern(settings), bias="none",
    )
    wrapped = get_peft_model(model, config)  # freezes every weight but the adapters
    model.camera_head.requires_grad_(True)
    wrapped.lora_settings = settings  # what save_adapter records
    return wrapped


def prepare_finetune(model: RelPoseModel, mode: str, lora: LoraSettings = LoraSettings()) -> nn.Module:
    """Set which weights train for a fine-tuning `mode` (see the module docstring); returns the
    model to optimise (a peft wrapper for "lora", `model` itself otherwise)."""
    if mode not in FINETUNE_MODES:
        raise ValueError(f"finetune mode must be one of {FINETUNE_MODES}, not {mode!r}")
    if mode == "lora":
        return add_lora(model, lora)
    model.requires_grad_(mode in ("full", "scratch"))
    model.camera_head.requires_grad_(True)
    mask_token = getattr(getattr(model.aggregator, "patch_embed", None), "mask_token", None)
    if mask_token is not None:
        mask_token.requires_grad_(False)
    return model


def unwrap(model: nn.Module) -> RelPoseModel:
    """The RelPoseModel inside a peft wrapper (adapters still attached), or `model` itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def merge_lora(model: nn.Module) -> RelPoseModel:
    """A plain RelPoseModel with any LoRA adapters folded into its weights (done in place): its
    state-dict keys are those of the unwrapped model."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def export_model(model: nn.Module, path: str | Path) -> RelPoseModel:
    """Merge LoRA adapters and write the plain model's state dict to a safetensors file that
    `relhead.train.model.load_checkpoint` reads; returns the merged model."""
    from safetensors.torch import save_file

    merged = merge_lora(model)
    save_file({k: v.detach().contiguous() for k, v in merged.state_dict().items()}, str(path))
    return merged


def save_adapter(model: nn.Module, path: str | Path) -> None:
    """Write the trainable tensors of a LoRA-wrapped model (adapters + camera head) to one
    safetensors file, with its LoraSettings in the metadata."""
    from safetensors.torch import save_file

    if not hasattr(model, "lora_settings"):
        raise ValueError("save_adapter needs the model returned by add_lora / prepare_finetune(..., 'lora')")
    tensors = {n: p.detach().contiguous() for n, p in unwrap(model).named_parameters() if p.requires_grad}
    meta = {"relhead_lora": json.dumps(dataclasses.asdict(model.lora_settings))}
    save_file(tensors, str(path), metadata=meta)


def load_adapter(model: RelPoseModel, path: str | Path) -> nn.Module:
    """Add the saved LoRA adapters to `model` (a plain RelPoseModel with the base weights) and load
    the saved tensors; returns the peft-wrapped model, ready to train on or to merge."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        settings = json.loads((f.metadata() or {}).get("relhead_lora", "null"))
    if settings is None:
        raise ValueError(f"{path}: not a relhead adapter file (no 'relhead_lora' metadata)")
    settings = LoraSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    wrapped = add_lora(model, settings)
    tensors = load_file(str(path))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(trainable - tensors.keys()), sorted(tensors.keys() - trainable)
    if missing or unexpected:
        raise ValueError(f"{path}: adapter does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.load_state_dict(tensors, strict=False)
    return wrapped
