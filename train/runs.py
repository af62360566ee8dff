"""A run folder: what `relhead train` writes and `eval`/`predict` read, and the model a config builds.

RUN/ holds `config.json` (the resolved config, the corpora, versions), `log.txt`, `metrics.jsonl` (one
line per logged step, one per evaluation), `curve.png`, and `checkpoint/`: the weights as safetensors
(`adapter.safetensors` for LoRA: adapters + camera head on top of the --init checkpoint; else the
whole `model.safetensors`) and `state.pt` (optimizer, RNG, step and data position; read with
torch.load(weights_only=True)), replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import torch

from relhead.configbase import ConfigError, validate
from relhead.train import lora as lora_mod
from relhead.train.config import TrainConfig
from relhead.train.model import RelPoseModel, load_checkpoint, make_net

CHECKPOINT, CONFIG, METRICS = "checkpoint", "config.json", "metrics.jsonl"


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
            ignored = _load(load_checkpoint, model, Path(cfg.init))
        except ConfigError as exc:
            raise ConfigError(f"--init {exc}") from None
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
    try:
        doc = json.loads(path.read_text())
        config, data = doc["config"], doc["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a run's config ({type(exc).__name__}: {exc})") from None
    # relhead <= 0.2 had a separate, 1.7x tighter evaluation crop; it is now the training crops' centre
    config.get("data", {}).get("crop", {}).pop("eval_margin", None)
    return config, data


def load_run(run: str | Path, device: str | torch.device = "cpu") -> tuple[TrainConfig, RelPoseModel]:
    """A run's config and its latest weights as a plain RelPoseModel (LoRA merged) in eval mode."""
    raw, _ = read_run_config(run)
    cfg = validate(TrainConfig, raw)
    ckpt = Path(run) / CHECKPOINT / weights_file(cfg)
    if not ckpt.is_file():
        raise ConfigError(f"{run}: no checkpoint yet ({ckpt.relative_to(run)} missing)")
    model = empty_model(cfg, weights_follow=True)
    if cfg.finetune == "lora":
        if not Path(cfg.init).is_file():
            raise ConfigError(f"{run}: its LoRA adapter needs the base checkpoint {cfg.init}, which is missing")
        _load(load_checkpoint, model, Path(cfg.init))
        model = lora_mod.merge_lora(_load(lora_mod.load_adapter, model, ckpt))
    else:
        _load(load_checkpoint, model, ckpt)
    return cfg, model.to(device).eval()


def _load(loader, model, path: Path):
    """loader(model, path), its failures (a file that is no checkpoint, or one of another model) as one
    ConfigError line naming the file."""
    try:
        return loader(model, path)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "size mismatch" in str(exc):
            detail = "its tensors have other shapes than the model's (another model size?)"
        raise ConfigError(f"{path}: {detail}") from None


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, bool]:
    """(device, bf16 autocast?)"""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested, but torch sees no CUDA device")
    dev = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                       "cpu" if cfg.device == "auto" else cfg.device)
    return dev, (cfg.precision == "bf16" or (cfg.precision == "auto" and dev.type == "cuda"))


def check_out(out: Path, resume: bool) -> None:
    """--out is a new (or empty) folder we can write, or with --resume a run folder (config.json; its
    checkpoint may be missing when the run stopped before its first one: it then starts again)."""
    if resume:
        if not (out / CONFIG).is_file():
            raise ConfigError(f"--resume: {out} is not a training run (no {CONFIG})")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: already exists and is not empty; pass --resume or choose another folder")
    parent = next((p for p in [out, *out.parents] if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: cannot create or write there")


class RunLog:
    """Messages to the console (above the progress bar) and log.txt; metrics to metrics.jsonl."""

    def __init__(self, out: Path, writer: bool = True):
        self.out, self.writer = out, writer  # only one process of a distributed run writes

    def __call__(self, msg: str) -> None:
        from tqdm import tqdm

        if not self.writer:
            return
        tqdm.write(msg if len(msg) < 400 else msg[:400] + " ... (all in log.txt)")
        with open(self.out / "log.txt", "a") as f:
            f.write(msg + "\n")

    def metrics(self, record: dict) -> None:
        if not self.writer:
            return
        with open(self.out / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop records after `step` (a resumed run redoes them)."""
        path = self.out / METRICS
        if self.writer and path.exists():
            keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            path.write_text("".join(ln + "\n" for ln in keep))


def rng_state() -> dict:
    """This process' torch RNG state (CPU, and CUDA where there is one), for a checkpoint."""
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def save_checkpoint(out: Path, cfg: TrainConfig, model, opt, step: int, batches: int, rng: list[dict]) -> None:
    """Write checkpoint/ atomically (a new folder renamed over the old one); `rng`: every process' RNG
    state, in rank order."""
    from safetensors.torch import save_file

    tmp, final, old = out / f"{CHECKPOINT}.tmp", out / CHECKPOINT, out / f"{CHECKPOINT}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if cfg.finetune == "lora":
        lora_mod.save_adapter(model, tmp / weights_file(cfg))
    else:
        sd = lora_mod.unwrap(model).state_dict()
        save_file({k: v.detach().contiguous().cpu() for k, v in sd.items()}, str(tmp / weights_file(cfg)))
    torch.save({"step": step, "optimizer": opt.state_dict(), "rng": rng,
                "data": {"seed": cfg.seed, "batches": batches, "workers": cfg.data.workers, "batch": cfg.data.batch,
                         "processes": len(rng)}},
               tmp / "state.pt")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_state(out: Path, cfg: TrainConfig, model, opt, log, rank: int = 0, world: int = 1) -> tuple[int, int]:
    """Restore weights, optimizer and this process' RNG from checkpoint/; returns (step, batches
    consumed), (0, 0) when the run has no checkpoint yet. A checkpoint that cannot be read or does not
    fit the model is a ConfigError naming the file; nothing has been changed then."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    ckpt = out / CHECKPOINT
    if not (ckpt / "state.pt").is_file():
        log(f"{out}: no checkpoint yet (the run stopped before its first): starting from step 0")
        return 0, 0
    weights = ckpt / weights_file(cfg)
    try:
        tensors = load_file(str(weights))
        missing, unexpected = lora_mod.unwrap(model).load_state_dict(tensors, strict=cfg.finetune != "lora")
        if unexpected:
            raise ValueError(f"unexpected {unexpected[0]}")
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
    except (OSError, SafetensorError, RuntimeError, ValueError, KeyError, EOFError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "size mismatch" in str(exc):
            detail = "its weights have other shapes than the model's (another model size?): " + \
                     str(exc).split("size mismatch for ", 1)[1].splitlines()[0]
        raise ConfigError(f"--resume: {weights.parent}: does not fit this run's model or cannot be read ({detail})") from None
    rng = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]  # relhead <= 0.2: one process'
    mine = rng[rank] if len(rng) == world else rng[0]
    torch.set_rng_state(mine["torch"])
    if "cuda" in mine and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(mine["cuda"])
    data = state["data"]
    was = (data["workers"], data["batch"], data["seed"], data.get("processes", 1))
    if was != (cfg.data.workers, cfg.data.batch, cfg.seed, world):
        log(f"warning: data.workers/data.batch/seed/processes changed since the checkpoint ({was}); "
            "the data order will differ from an uninterrupted run")
    return state["step"], data["batches"]


def curve_figure(metrics: list[dict], title: str = ""):
    """The learning curve as a matplotlib Figure (no pyplot): the training loss (raw and EMA 0.9) and the
    held-out rotation error per evaluation (the network alone; the last step's with the test-time variants as
    a star) beside the no-rotation baseline's; None without a loss or an evaluation. curve.png and the
    report's curves are this figure."""
    from matplotlib.figure import Figure

    train = [r for r in metrics if isinstance(r.get("loss"), (int, float))]
    evals = [r for r in metrics if isinstance(r.get("eval"), dict) and r["eval"].get("rot_deg") is not None]
    if not train and not evals:
        return None
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    if title:
        fig.suptitle(title)
    ax, ax2 = fig.subplots(1, 2)
    if train:
        steps, loss = [r["step"] for r in train], [r["loss"] for r in train]
        ema = [loss[0]]
        for v in loss[1:]:
            ema.append(0.9 * ema[-1] + 0.1 * v)
        ax.plot(steps, loss, color="black", alpha=0.25, lw=0.8, label="loss")
        ax.plot(steps, ema, color="black", label="EMA 0.9")
        if min(loss) > 0:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set(xlabel="step", ylabel="training loss", title="training loss")
    if evals:
        steps = [r["step"] for r in evals]
        ax2.plot(steps, [r["eval"]["rot_deg"] for r in evals], "o-", color="tab:red", label="network alone (geodesic)")
        if all(r["eval"].get("ypr_deg") is not None for r in evals):
            ax2.plot(steps, [r["eval"]["ypr_deg"] for r in evals], "s-", color="tab:orange",
                     label="network alone (yaw/pitch/roll MAE)")
        tta = [r for r in evals if isinstance(r.get("eval_test_time"), dict)]
        if tta:  # the last step's evaluation with the test-time variants (relhead.train.train)
            ax2.plot([r["step"] for r in tta], [r["eval_test_time"].get("rot_deg") for r in tta], "*",
                     color="tab:purple", ms=11, label="with test-time variants (geodesic)")
        if all(r["eval"].get("identity_rot_deg") is not None for r in evals):
            ax2.plot(steps, [r["eval"]["identity_rot_deg"] for r in evals], "--", color="gray",
                     label="no rotation (identity)")
        ax2.set_ylim(bottom=0)
        ax2.legend(fontsize=8)
    ax2.set(xlabel="step", ylabel="degrees", title="held-out error of the relative rotation")
    return fig


def plot_curve(out: Path) -> None:
    """curve.png: curve_figure of the run's metrics.jsonl."""
    if not (out / METRICS).exists():
        return
    fig = curve_figure([json.loads(ln) for ln in (out / METRICS).read_text().splitlines() if ln], out.name)
    if fig is not None:
        fig.savefig(out / "curve.png", dpi=100)
