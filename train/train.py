"""The trainer: TrainConfig (named trainings in pipelines.yaml's `trainings:`) and one training loop.

A run folder holds `config.json` (the resolved config and the corpora), `log.txt`, `metrics.jsonl`
(one line per logged step, one per evaluation), `curve.png`, and `checkpoint/`: the weights as
safetensors (`adapter.safetensors` for LoRA: adapters + camera head on top of the --init checkpoint;
else the whole `model.safetensors`) and `state.pt` (optimizer, RNG, step and data position; read
with torch.load(weights_only=True)). `--resume` continues from it so that the following losses equal
those of an uninterrupted run (bit-exact on CPU with the same worker count). The learning rate is a
pure function of the step (10% linear warmup from start_lr, cosine to min_lr), so it has no state.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from relhead import __version__
from relhead.configbase import ConfigError, Strict, key_error, load_yaml, resolve_inherit, validate
from relhead.train import lora as lora_mod
from relhead.train.data import DataCfg, open_corpora, split_counts, train_loader
from relhead.train.losses import LossCfg, pose_loss
from relhead.train.model import ModelConfig, RelPoseModel, load_checkpoint, make_net, model_config

CHECKPOINT, CONFIG, METRICS = "checkpoint", "config.json", "metrics.jsonl"


# ------------------------------------------------------------------------------------------- config
class ModelCfg(Strict):
    preset: Literal["small", "cnn", "vggt-1b"] = "small"
    overrides: dict[str, int | float | str | bool] = {}  # fields of relhead.train.model.ModelConfig
    grad_checkpointing: bool = False

    @field_validator("overrides")
    @classmethod
    def _known_fields(cls, v):
        unknown = sorted(set(v) - set(ModelConfig.__dataclass_fields__))
        if unknown:
            allowed = ", ".join(ModelConfig.__dataclass_fields__)
            raise ValueError(f"unknown model field {unknown[0]!r}; allowed: {allowed}")
        return v


class LoraCfg(Strict):
    rank: int = Field(8, ge=1, le=1024)
    alpha: float = Field(16.0, gt=0.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class OptimCfg(Strict):
    lr: float = Field(1e-4, gt=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0, le=1.0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup: float = Field(0.1, ge=0.0, le=1.0, description="share of the steps")
    start_lr: float = Field(1e-6, ge=0.0, le=1.0)
    min_lr: float = Field(1e-6, ge=0.0, le=1.0)
    clip: float = Field(1.0, ge=0.0, description="gradient-norm clip; 0: off")
    accum: int = Field(1, ge=1, description="batches per optimizer step")


class TrainConfig(Strict):
    name: str = "unnamed"
    description: str = ""
    model: ModelCfg = ModelCfg()
    mode: Literal["relative", "absolute"] = "relative"
    finetune: Literal["lora", "head", "full", "scratch"] = "scratch"
    init: str | None = Field(None, description="checkpoint to start from (.pt/.pth/.safetensors)")
    lora: LoraCfg = LoraCfg()
    data: DataCfg = DataCfg()
    loss: LossCfg = LossCfg()
    optim: OptimCfg = OptimCfg()
    steps: int = Field(1000, ge=1, description="optimizer steps")
    log_every: int = Field(10, ge=1)
    eval_every: int = Field(0, ge=0, description="steps; 0: only at the end")
    eval_max_pairs: int = Field(512, ge=0, description="held-out pairs per evaluation during training; 0: all")
    checkpoint_every: int = Field(500, ge=0, description="steps; 0: only at the end")
    plot: bool = Field(True, description="redraw curve.png at every checkpoint (matplotlib)")
    seed: int = Field(0, ge=0, lt=2**63)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, le=1024, description="CPU intra-op threads of the training process; "
                         "0: on CPU the cores the loader workers leave (at least 1), on CUDA torch's default")
    precision: Literal["auto", "fp32", "bf16"] = "auto"

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


# ---------------------------------------------------------------------------------- model and runs
def empty_model(cfg: TrainConfig, weights_follow: bool) -> RelPoseModel:
    """The model, randomly initialised, or when a checkpoint will fill every weight (`weights_follow`)
    and the model is large, built on the meta device (no memory, no init time)."""
    big = cfg.model.preset == "vggt-1b"
    with torch.device("meta") if weights_follow and big else contextlib.nullcontext():
        return make_net(cfg.net_config())


def build_model(cfg: TrainConfig, log=print) -> torch.nn.Module:
    """The model to train: built, --init loaded, finetune mode applied (a peft wrapper for LoRA)."""
    model = empty_model(cfg, weights_follow=bool(cfg.init))
    if cfg.init:
        try:
            ignored = load_checkpoint(model, cfg.init)
        except (ValueError, OSError, RuntimeError) as exc:
            raise ConfigError(f"--init {cfg.init}: {str(exc).splitlines()[0]}") from None
        log(f"--init {cfg.init}: loaded; {len(ignored)} tensors not in the model ignored"
            + (f": {', '.join(ignored)}" if ignored else ""))
    mode = "full" if cfg.finetune == "scratch" else cfg.finetune
    settings = lora_mod.LoraSettings(rank=cfg.lora.rank, alpha=cfg.lora.alpha, dropout=cfg.lora.dropout)
    model = lora_mod.prepare_finetune(model, mode, settings)
    lora_mod.unwrap(model).set_grad_checkpointing(cfg.model.grad_checkpointing)
    return model


def weights_file(cfg: TrainConfig) -> str:
    return "adapter.safetensors" if cfg.finetune == "lora" else "model.safetensors"


def read_run_config(run: str | Path) -> tuple[dict, list[str]]:
    """(raw config, corpus paths) of a run folder."""
    path = Path(run) / CONFIG
    if not path.is_file():
        raise ConfigError(f"{run}: not a training run (no {CONFIG})")
    doc = json.loads(path.read_text())
    # relhead <= 0.2 had a separate, 1.7x tighter evaluation crop; it is now the training crops' centre
    doc["config"].get("data", {}).get("crop", {}).pop("eval_margin", None)
    return doc["config"], doc["data"]


def load_run(run: str | Path, device: str | torch.device = "cpu") -> tuple[TrainConfig, RelPoseModel]:
    """A run's config and its latest weights as a plain RelPoseModel (LoRA merged) in eval mode."""
    raw, _ = read_run_config(run)
    cfg = validate(TrainConfig, raw)
    ckpt = Path(run) / CHECKPOINT / weights_file(cfg)
    if not ckpt.is_file():
        raise ConfigError(f"{run}: no checkpoint yet ({ckpt.relative_to(run)} missing)")
    if cfg.finetune == "lora":
        if not Path(cfg.init).is_file():
            raise ConfigError(f"{run}: its LoRA adapter needs the base checkpoint {cfg.init}, which is missing")
        model = empty_model(cfg, weights_follow=True)
        load_checkpoint(model, cfg.init)
        model = lora_mod.merge_lora(lora_mod.load_adapter(model, ckpt))
    else:
        model = empty_model(cfg, weights_follow=True)
        load_checkpoint(model, ckpt)
    return cfg, model.to(device).eval()


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, bool]:
    """(device, bf16 autocast?)"""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested, but torch sees no CUDA device")
    dev = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                       "cpu" if cfg.device == "auto" else cfg.device)
    return dev, (cfg.precision == "bf16" or (cfg.precision == "auto" and dev.type == "cuda"))


def lr_at(step: int, cfg: TrainConfig) -> float:
    o = cfg.optim
    warm = round(o.warmup * cfg.steps)
    if step < warm:
        return o.start_lr + (o.lr - o.start_lr) * step / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * progress))


def _check_out(out: Path, resume: bool) -> None:
    if resume:
        if not (out / CHECKPOINT / "state.pt").is_file():
            raise ConfigError(f"--resume: {out} holds no checkpoint to resume from")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: already exists and is not empty; pass --resume or choose another folder")
    parent = next((p for p in [out, *out.parents] if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: cannot create or write there")


# ---------------------------------------------------------------------------------------- the loop
class RunLog:
    """Messages to the console (above the progress bar) and log.txt; metrics to metrics.jsonl."""

    def __init__(self, out: Path):
        self.out = out

    def __call__(self, msg: str) -> None:
        from tqdm import tqdm

        tqdm.write(msg if len(msg) < 400 else msg[:400] + " ... (all in log.txt)")
        with open(self.out / "log.txt", "a") as f:
            f.write(msg + "\n")

    def metrics(self, record: dict) -> None:
        with open(self.out / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop records after `step` (a resumed run redoes them)."""
        path = self.out / METRICS
        if path.exists():
            keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            path.write_text("".join(ln + "\n" for ln in keep))


def save_checkpoint(out: Path, cfg: TrainConfig, model, opt, step: int, batches: int) -> None:
    """Write checkpoint/ atomically (a new folder renamed over the old one)."""
    from safetensors.torch import save_file

    tmp, final, old = out / f"{CHECKPOINT}.tmp", out / CHECKPOINT, out / f"{CHECKPOINT}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if cfg.finetune == "lora":
        lora_mod.save_adapter(model, tmp / weights_file(cfg))
    else:
        sd = lora_mod.unwrap(model).state_dict()
        save_file({k: v.detach().contiguous().cpu() for k, v in sd.items()}, str(tmp / weights_file(cfg)))
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save({"step": step, "optimizer": opt.state_dict(), "rng": rng,
                "data": {"seed": cfg.seed, "batches": batches, "workers": cfg.data.workers, "batch": cfg.data.batch}},
               tmp / "state.pt")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_state(out: Path, cfg: TrainConfig, model, opt, log) -> tuple[int, int]:
    """Restore weights, optimizer and RNG from checkpoint/; returns (step, batches consumed)."""
    from safetensors.torch import load_file

    ckpt = out / CHECKPOINT
    tensors = load_file(str(ckpt / weights_file(cfg)))
    missing, unexpected = lora_mod.unwrap(model).load_state_dict(tensors, strict=cfg.finetune != "lora")
    if unexpected:
        raise ConfigError(f"--resume: {ckpt} does not fit the model (unexpected {unexpected[0]})")
    state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    data = state["data"]
    if (data["workers"], data["batch"], data["seed"]) != (cfg.data.workers, cfg.data.batch, cfg.seed):
        log(f"warning: data.workers/data.batch/seed changed since the checkpoint ({data}); "
            "the data order will differ from an uninterrupted run")
    return state["step"], data["batches"]


def plot_curve(out: Path) -> None:
    """curve.png: training loss (raw and smoothed) and held-out rotation error against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not (out / METRICS).exists():
        return
    rows = [json.loads(ln) for ln in (out / METRICS).read_text().splitlines() if ln]
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval" in r and r["eval"].get("rot_deg") is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = []
    if train:
        steps, loss = [r["step"] for r in train], [r["loss"] for r in train]
        smooth, ema = [], loss[0]
        for v in loss:
            ema = 0.9 * ema + 0.1 * v
            smooth.append(ema)
        ax.plot(steps, loss, color="tab:blue", alpha=0.3, lw=0.8)
        lines += ax.plot(steps, smooth, color="tab:blue", label="training loss (EMA 0.9)")
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if evals:
        ax2 = ax.twinx()
        lines += ax2.plot([r["step"] for r in evals], [r["eval"]["rot_deg"] for r in evals], "o-", color="tab:red",
                          label="held-out rotation error")
        ax2.set_ylabel("held-out geodesic error (deg)")
    if lines:
        ax.legend(handles=lines, loc="upper right")
    ax.set_title(out.name)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=100)
    plt.close(fig)


def next_batch(batch_iter) -> dict:
    """The next batch; a CorruptShard raised in a DataLoader worker is re-raised with its own one-line
    message (the DataLoader wraps it in the worker's traceback)."""
    from relhead.datasets.shards import CorruptShard

    try:
        return next(batch_iter)
    except CorruptShard as exc:
        msg = str(exc)
        if "Traceback" in msg:
            msg = msg.strip().splitlines()[-1].split(": ", 1)[-1]
            raise CorruptShard(msg) from None
        raise


def train(cfg: TrainConfig, data: list[str], out: str | Path, resume: bool = False, until: int | None = None) -> dict:
    """Train `cfg` on the corpora `data` into run folder `out`; `until`: stop after that step (as a
    preemption would; the schedule still runs to cfg.steps). Returns the last metrics record."""
    from tqdm import tqdm

    from relhead.train.eval import evaluate

    out = Path(out)
    corpora = open_corpora(data)
    n_train, n_held = split_counts(corpora, cfg.data.holdout_every)
    if n_train == 0:
        raise ConfigError(f"data.holdout_every: {cfg.data.holdout_every} leaves no training group "
                          f"(of {n_held})")
    if max(1, cfg.data.workers) > n_train:
        raise ConfigError(f"data.workers: {cfg.data.workers} loader workers need at least as many training groups "
                          f"(have {n_train})")
    _check_out(out, resume)
    device, bf16 = resolve_device(cfg)
    if cfg.threads or device.type == "cpu":
        # oversubscribed cores make torch's threads wait on each other (a step can get 10x slower)
        torch.set_num_threads(cfg.threads or max(1, len(os.sched_getaffinity(0)) - cfg.data.workers))
    torch.manual_seed(cfg.seed)
    messages: list[str] = []
    model = build_model(cfg, log=messages.append).to(device)  # before anything is written: a bad --init is an error
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)

    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out)
    doc = {"config": cfg.model_dump(mode="json"), "data": [str(Path(p).resolve()) for p in data],
           "relhead": __version__, "torch": torch.__version__, "host": platform.node()}
    (out / CONFIG).write_text(json.dumps(doc, indent=1))
    for m in messages:
        log(m)
    step, batches = 0, 0
    if resume:
        step, batches = load_state(out, cfg, model, opt, log)
        log.truncate_metrics(step)
        log(f"resumed at step {step} ({batches} batches consumed)")
    n_params = sum(p.numel() for p in params)
    log(f"{cfg.name}: {cfg.model.preset} {cfg.mode} {cfg.finetune}, {n_params / 1e6:.2f}M trainable, "
        f"{cfg.size}px, batch {cfg.data.batch}x{cfg.optim.accum}, {n_train} training / {n_held} held-out groups, "
        f"{device.type}{' bf16' if bf16 else ''}, {torch.get_num_threads()} threads")
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")

    loader = train_loader(corpora, cfg.data, cfg.size, cfg.mode, cfg.seed, skip_batches=batches,
                          pin_memory=device.type == "cuda")
    batch_iter = iter(loader)
    record: dict = {}
    last_eval = None
    t_last, pairs_since = time.perf_counter(), 0
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", dynamic_ncols=True, mininterval=1.0,
               disable=None)  # no bar where stderr is not a terminal (the metrics file has it all)
    while step < cfg.steps and (until is None or step < until):
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        for _ in range(cfg.optim.accum):
            batch = next_batch(batch_iter)
            batches += 1
            images = batch["images"].to(device, non_blocking=True)
            target = batch["targets"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                if cfg.loss.landmarks:
                    preds, aux = model(images, with_aux=True)
                    landmarks = (aux["landmarks"], batch["landmarks"].to(device, non_blocking=True))
                else:
                    preds, landmarks = model(images), None
            loss, parts = pose_loss(preds, target, cfg.loss, landmarks)
            (loss / cfg.optim.accum).backward()
            pairs_since += images.shape[0]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip if cfg.optim.clip > 0 else float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            record = {"step": step, "loss": loss.item(), **parts, "lr": lr, "grad_norm": float(grad_norm),
                      "pairs_per_s": pairs_since / (now - t_last)}
            log.metrics(record)
            t_last, pairs_since = now, 0
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
            if n_held:
                res = evaluate(model, cfg, corpora, device, bf16, limit=cfg.eval_max_pairs or None)
                overall = res["relative"]["overall"]
                last_eval = {"pairs": res["pairs"], "rot_deg": overall["rot_deg"], "ypr_deg": overall["ypr_deg"],
                             "t_m": overall["t_m"]}
                log.metrics({"step": step, "eval": last_eval})
                log(f"step {step}: held-out {res['pairs']} pairs, rotation {overall['rot_deg']:.2f} deg, "
                    f"yaw/pitch/roll MAE {overall['ypr_deg']:.2f} deg, translation {overall['t_m']:.4f} m")
                model.train()
        if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.steps or step == until:
            save_checkpoint(out, cfg, model, opt, step, batches)
            if cfg.plot:
                plot_curve(out)
    bar.close()
    del batch_iter  # stops the loader's workers
    log(f"done: step {step}, loss {record.get('loss', float('nan')):.4f}; checkpoint in {out / CHECKPOINT}")
    return {**record, "eval": last_eval}
