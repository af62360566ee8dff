"""The training loop: `relhead train` (config: relhead.train.config; run folder: relhead.train.runs).

`--resume` continues a run from its checkpoint so that the following losses equal those of an
uninterrupted run (bit-exact on CPU with the same worker count). The learning rate is a pure
function of the step (linear warmup from start_lr, cosine to min_lr), so it has no state.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import signal
import threading
import time
from pathlib import Path

import torch

from relhead import __version__
from relhead.configbase import ConfigError
from relhead.train import dist
from relhead.train import lora as lora_mod
from relhead.train.config import TrainConfig, resolve_training  # noqa: F401  (the trainer's config)
from relhead.train.data import open_corpora, split_counts, train_loader
from relhead.train.eval import evaluate
from relhead.train.losses import pose_loss
from relhead.train.runs import (CHECKPOINT, CONFIG, RunLog, build_model, check_out, load_state, plot_curve,
                                resolve_device, rng_state, save_checkpoint)


# ---------------------------------------------------------------------------------------- the loop
def lr_at(step: int, cfg: TrainConfig) -> float:
    o = cfg.optim
    warm = round(o.warmup * cfg.steps)
    if step < warm:
        return o.start_lr + (o.lr - o.start_lr) * step / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * progress))



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


def batch_loss(model, batch: dict, cfg: TrainConfig, device, bf16: bool):
    """The training loss of `batch` and its parts (losses.pose_loss), with the landmark term when cfg has one."""
    images = batch["images"].to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        if cfg.loss.landmarks:
            preds, aux = model(images, with_aux=True)
            landmarks = (aux["landmarks"], batch["landmarks"].to(device, non_blocking=True))
        else:
            preds, landmarks = model(images), None
    return pose_loss(preds, batch["targets"].to(device, non_blocking=True), cfg.loss, landmarks)


def held_out(net, cfg: TrainConfig, corpora, device, bf16: bool) -> dict:
    """The in-run evaluation's summary: the first cfg.eval_max_pairs held-out pairs, predicted as `cfg` says."""
    res = evaluate(net, cfg, corpora, device, bf16, limit=cfg.eval_max_pairs or None)
    overall = res["relative"]["overall"]
    return {"pairs": res["pairs"], "rot_deg": overall["rot_deg"], "ypr_deg": overall["ypr_deg"], "t_m": overall["t_m"],
            "identity_rot_deg": res["identity"]["overall"]["rot_deg"], "test_time": list(cfg.test_time)}


class Interrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after writing a checkpoint (args: step, signal number)."""

    def __init__(self, step: int, signum: int):
        super().__init__(step, signum)
        self.step, self.signum = step, signum


class StopSignals:
    """SIGINT and SIGTERM (what Slurm sends before it kills a job) ask the loop to stop after the current
    step; a second one stops at once. Installed in the main thread only; the previous handlers come back."""

    def __init__(self):
        self.signum = 0

    def _handle(self, signum, frame):
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum
        from tqdm import tqdm

        tqdm.write(f"{signal.Signals(signum).name}: stopping after this step with a checkpoint (again to abort)")

    def __enter__(self):
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def train(cfg: TrainConfig, data: list[str], out: str | Path, resume: bool = False, until: int | None = None) -> dict:
    """Train `cfg` on the corpora `data` into run folder `out`; `until`: stop after that step (as a
    preemption would; the schedule still runs to cfg.steps). Returns the last metrics record. Under
    torchrun, every process runs this (relhead.train.dist); rank 0 writes the run folder."""
    device, bf16 = resolve_device(cfg)
    out = Path(out)
    existed = out.exists()
    new = not resume and (not existed or (out.is_dir() and not any(out.iterdir())))  # what it holds will be ours
    d = dist.setup(cuda=device.type == "cuda")
    try:
        with StopSignals() as stop:
            result = _train(cfg, data, out, resume, until, d, stop)
        dist.barrier(d)  # every process finished before any leaves the group (a failed run does not wait)
        return result
    except BaseException:
        # A start that fails before its first checkpoint leaves nothing (--resume would begin at step 0
        # anyway), so the same command runs once the input is fixed.
        if new and d.main and out.is_dir() and not (out / CHECKPOINT).exists():
            for p in list(out.iterdir()):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            if not existed:
                with contextlib.suppress(OSError):
                    out.rmdir()
        raise
    finally:
        dist.teardown(d)


def _train(cfg: TrainConfig, data: list[str], out: Path, resume: bool, until: int | None, d: dist.Dist,
           stop: StopSignals) -> dict:
    from tqdm import tqdm

    # Everything that can fail on the inputs fails here, before the run folder is written.
    corpora = open_corpora(data, check=True, on_corrupt=cfg.data.on_corrupt)
    n_train, n_held = split_counts(corpora, cfg.data.holdout_every)
    if n_train == 0:
        raise ConfigError(f"data.holdout_every: {cfg.data.holdout_every} leaves no training group "
                          f"(of {n_held})")
    if max(1, cfg.data.workers) * d.world > n_train:
        raise ConfigError(f"data.workers: {cfg.data.workers} loader workers in {d.world} process(es) need at least "
                          f"as many training groups (have {n_train})")
    check_out(out, resume)
    device, bf16 = resolve_device(cfg)
    if device.type == "cuda" and d.on:
        device = torch.device("cuda", d.local_rank)
    if cfg.threads or device.type == "cpu":
        # oversubscribed cores make torch's threads wait on each other (a step can get 10x slower)
        cores = len(os.sched_getaffinity(0)) // d.local_world
        torch.set_num_threads(cfg.threads or max(1, cores - cfg.data.workers))
    torch.manual_seed(cfg.seed)
    messages: list[str] = []
    net = build_model(cfg, log=messages.append).to(device)  # a bad --init is an error here
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
    step, batches = load_state(out, cfg, net, opt, messages.append, d.rank, d.world) if resume else (0, 0)
    if step >= cfg.steps:
        if d.main:
            print(f"{out}: finished at step {step} (steps: {cfg.steps}); nothing to do "
                  f"(--set steps=N with a larger N trains on)")
        return {"step": step, "finished": True}

    log = RunLog(out, writer=d.main)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        doc = {"config": cfg.model_dump(mode="json"), "data": [str(Path(p).resolve()) for p in data],
               "relhead": __version__, "torch": torch.__version__, "host": platform.node(), "processes": d.world}
        (out / CONFIG).write_text(json.dumps(doc, indent=1))
    for m in messages:
        log(m)
    if resume:
        log.truncate_metrics(step)
        log(f"resumed at step {step} ({batches} batches consumed)")
    n_params = sum(p.numel() for p in params)
    log(f"{cfg.name}: {cfg.model.preset} {cfg.mode} {cfg.finetune}, {n_params / 1e6:.2f}M trainable, "
        f"{cfg.size}px, batch {cfg.data.batch}x{cfg.optim.accum}{f' x {d.world} processes' if d.on else ''}, "
        f"{n_train} training / {n_held} held-out groups, {device.type}{' bf16' if bf16 else ''}, "
        f"{torch.get_num_threads()} threads")
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    model = net
    if d.on:  # gradients averaged over the processes; a landmark head the loss does not use gets none
        unused = getattr(lora_mod.unwrap(net), "landmark_head", None) is not None and not cfg.loss.landmarks
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[d.local_rank] if device.type == "cuda" else None, find_unused_parameters=unused)

    loader = train_loader(corpora, cfg.data, cfg.size, cfg.mode, cfg.seed, skip_batches=batches,
                          pin_memory=device.type == "cuda")
    batch_iter = iter(loader)
    record: dict = {}
    last_eval = last_tta = None
    t_last, pairs_since = time.perf_counter(), 0
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", dynamic_ncols=True, mininterval=1.0,
               disable=None if d.main else True)  # no bar where stderr is not a terminal (metrics has it all)
    while step < cfg.steps and (until is None or step < until):
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        for _ in range(cfg.optim.accum):
            batch = next_batch(batch_iter)
            batches += 1
            loss, parts = batch_loss(model, batch, cfg, device, bf16)
            (loss / cfg.optim.accum).backward()
            pairs_since += batch["images"].shape[0]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip if cfg.optim.clip > 0 else float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            names = ["loss", *parts]
            sums = dist.total(d, [loss.item(), *parts.values(), pairs_since])  # means over the processes
            record = {"step": step, **{k: v / d.world for k, v in zip(names, sums)}, "lr": lr,
                      "grad_norm": float(grad_norm), "pairs_per_s": sums[-1] / (now - t_last)}
            if device.type == "cuda":  # this process' peak since the start, GiB
                record["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
            log.metrics(record)
            t_last, pairs_since = now, 0
        stopping = bool(dist.total(d, [stop.signum])[0]) if d.on else bool(stop.signum)  # all stop at one step
        if ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps) and n_held:
            if d.main:
                # The curve is the network alone; test-time variants (cfg.test_time: up to twelve times the
                # inference) are evaluated once, at the last step, beside it.
                last_eval = held_out(net, cfg.model_copy(update={"test_time": []}), corpora, device, bf16)
                rec = {"step": step, "eval": last_eval}
                line = f"step {step}: held-out {last_eval['pairs']} pairs, rotation {last_eval['rot_deg']:.2f} deg"
                if step == cfg.steps and cfg.test_time:
                    rec["eval_test_time"] = last_tta = held_out(net, cfg, corpora, device, bf16)
                    line += f", with test-time {'+'.join(cfg.test_time)} {last_tta['rot_deg']:.2f}"
                log.metrics(rec)
                log(f"{line} (no rotation: {last_eval['identity_rot_deg']:.2f}), yaw/pitch/roll MAE "
                    f"{last_eval['ypr_deg']:.2f} deg, translation {last_eval['t_m']:.4f} m")
            model.train()
            dist.barrier(d)
        if ((cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.steps or step == until
                or stopping):
            rng = dist.gather(d, rng_state())
            if d.main:
                save_checkpoint(out, cfg, net, opt, step, batches, rng)
                if cfg.plot:
                    plot_curve(out)
            dist.barrier(d)
        if stopping:
            bar.close()
            del batch_iter
            log(f"stopped by {signal.Signals(stop.signum or signal.SIGTERM).name} at step {step}; checkpoint in "
                f"{out / CHECKPOINT}; `relhead train --out {out} --resume` continues from step {step}")
            raise Interrupted(step, stop.signum or signal.SIGTERM)
    bar.close()
    del batch_iter  # stops the loader's workers
    if d.on:
        same = dist.same_weights(d, lora_mod.unwrap(net))
        log(f"weights {'identical' if same else 'DIFFERENT (a bug: please report)'} in all {d.world} processes")
    log(f"done: step {step}, loss {record.get('loss', float('nan')):.4f}; checkpoint in {out / CHECKPOINT}")
    return {**record, "eval": last_eval, **({"eval_test_time": last_tta} if last_tta else {})}
