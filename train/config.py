"""Training configs: TrainConfig and its sections, and named trainings (pipelines.yaml's `trainings:`).

Every key is checked as pipeline keys are: an unknown key, a wrong type or a value out of range is a
one-line ConfigError naming the key (relhead.configbase).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from relhead.configbase import Strict, key_error, load_yaml, resolve_inherit, validate
from relhead.train.data import DataCfg
from relhead.train.eval import TestTime
from relhead.train.losses import LossCfg
from relhead.train.model import ModelConfig, model_config


class ModelCfg(Strict):
    preset: Literal["small", "cnn", "vggt-1b"] = Field("small", description="the network (table of presets below); "
                                                                        "cnn: the plain-CNN baseline")
    overrides: dict[str, int | float | str | bool] = Field({}, description="fields of relhead.train.model.ModelConfig "
                                                                           "to replace")
    grad_checkpointing: bool = Field(False, description="recompute activations in the backward pass (less memory)")

    @field_validator("overrides")
    @classmethod
    def _known_fields(cls, v):
        unknown = sorted(set(v) - set(ModelConfig.__dataclass_fields__))
        if unknown:
            allowed = ", ".join(ModelConfig.__dataclass_fields__)
            raise ValueError(f"unknown model field {unknown[0]!r}; allowed: {allowed}")
        return v


class LoraCfg(Strict):
    """LoRA adapters on the aggregator's frame and global blocks (finetune: lora; the camera head trains whole)."""

    rank: int = Field(8, ge=1, le=1024)
    alpha: float = Field(16.0, gt=0.0, description="scale alpha / rank")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class OptimCfg(Strict):
    """AdamW; linear warmup from start_lr, then cosine to min_lr (a function of the step)."""

    lr: float = Field(1e-4, gt=0.0, le=1.0, description="peak learning rate")
    weight_decay: float = Field(0.01, ge=0.0, le=1.0, description="on every trainable tensor")
    betas: tuple[float, float] = (0.9, 0.999)
    warmup: float = Field(0.1, ge=0.0, le=1.0, description="share of the steps")
    start_lr: float = Field(1e-6, ge=0.0, le=1.0)
    min_lr: float = Field(1e-6, ge=0.0, le=1.0)
    clip: float = Field(1.0, ge=0.0, description="gradient-norm clip; 0: off")
    accum: int = Field(1, ge=1, description="batches per optimizer step")


class TrainConfig(Strict):
    name: str = Field("unnamed", description="set from the training's name")
    description: str = Field("", description="for `relhead train --help`")
    model: ModelCfg = ModelCfg()
    mode: Literal["relative", "absolute"] = Field("relative", description="relative: the two-frame model; absolute: "
                                                                          "its single-frame twin")
    finetune: Literal["lora", "head", "full", "scratch"] = Field(
        "scratch", description="lora, head or full start from --init; scratch from random weights")
    init: str | None = Field(None, description="checkpoint to start from (.pt/.pth/.safetensors)")
    lora: LoraCfg = LoraCfg()
    data: DataCfg = DataCfg()
    loss: LossCfg = LossCfg()
    optim: OptimCfg = OptimCfg()
    steps: int = Field(1000, ge=1, description="optimizer steps")
    log_every: int = Field(10, ge=1, description="steps between log lines (and metrics.jsonl lines)")
    eval_every: int = Field(0, ge=0, description="steps; 0: only at the end")
    eval_max_pairs: int = Field(512, ge=0, description="held-out pairs per evaluation during training; 0: all")
    checkpoint_every: int = Field(500, ge=0, description="steps; 0: only at the end")
    plot: bool = Field(True, description="redraw curve.png at every checkpoint (matplotlib)")
    seed: int = Field(0, ge=0, lt=2**63, description="every random draw of the run derives from it")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when there is a GPU")
    threads: int = Field(0, ge=0, le=1024, description="CPU intra-op threads of the training process; "
                         "0: on CPU the cores the loader workers leave (at least 1), divided among the processes of a "
                         "machine (oversubscribed cores make torch's threads wait on each other), on CUDA torch's "
                         "default")
    test_time: list[TestTime] = Field(
        [], description="exact variants of each pair averaged at evaluation and prediction "
        "(relhead.train.eval.predict_poses): swap, the inverse of the reversed pair's prediction; mirror, both "
        "frames mirrored left-right and the prediction mirrored back; each doubles the inference cost; roll, both "
        "frames also turned by +-10 degrees about their centres (an exact camera roll) and the prediction turned "
        "back: three times the inference. During training the evaluations are the network alone and the last "
        "step's is also made with these (metrics.jsonl: eval_test_time)")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA, fp32 on CPU")

    @model_validator(mode="after")
    def _consistent(self):
        if self.finetune != "scratch" and not self.init:
            raise key_error("training", ("init",), f"finetune '{self.finetune}' needs a checkpoint to start from: "
                            "--init PATH (or finetune: scratch)", None)
        if self.finetune == "scratch" and self.init:
            raise key_error("training", ("init",), "finetune 'scratch' starts from random weights; drop --init or "
                            "choose finetune lora, head or full", self.init)
        try:
            mcfg = model_config(self.model.preset, **self.model.overrides)
        except TypeError as exc:
            raise key_error("training", ("model", "overrides"), str(exc), self.model.overrides) from None
        if self.loss.landmarks and mcfg.landmarks != 68:
            raise key_error("training", ("loss", "landmarks"), "needs a model with a landmark head of the 68 iBUG "
                            f"points (model.overrides landmarks: 68), not {mcfg.landmarks}", self.loss.landmarks)
        size = self.data.size or mcfg.img_size
        if size % mcfg.patch_size:
            raise key_error("training", ("data", "size"), f"must be a multiple of the patch size {mcfg.patch_size}",
                            size)
        return self

    def net_config(self) -> ModelConfig:
        return model_config(self.model.preset, **self.model.overrides)

    @property
    def size(self) -> int:
        return self.data.size or self.net_config().img_size


def default_trainings_file() -> Path:
    from relhead.config import default_pipelines_file

    return default_pipelines_file()


def resolve_training(name: str = "small-cpu", overrides: list[str] | None = None, values: dict[str, Any] | None = None,
                     path: str | Path | None = None) -> TrainConfig:
    """Named training from pipelines.yaml's `trainings:` + --set strings + {dotted key: value}."""
    trainings = load_yaml(path or default_trainings_file(), "trainings")["trainings"]
    raw = resolve_inherit(trainings, name, kind="training")
    return validate(TrainConfig, {"name": name, **raw}, overrides, values, example="optim.lr=3e-4")
