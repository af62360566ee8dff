"""Pairs per second of a training step (forward, loss, backward, clipping, AdamW) and of evaluation's
inference (every test-time variant), for settings side by side in one run, alternating (ABBA).

    python bench/step.py                                  # small-cpu: fp32, bf16, and fp32 as NCHW (before)
    python bench/step.py --interleave fp32 bf16 --threads 2 --data CORPUS

A setting is `fp32` or `bf16` (`precision`, autocast on this CPU), `+nchw` for the CNN's convolutions in
NCHW as before channels-last (relhead.train.model.ConvNet), `+KEY=VALUE` for a training override. The batch
is one real training batch of --data (default: a synthetic corpus without Blender, bench/loader.py's);
the step is what `relhead train` runs, with the landmark term when the training has one. --threads:
torch's threads (1: `relhead train`'s on 2 cores with its 1 loader worker). Ratios are paired per
repeat against the first setting: median (min-max). Not part of the tests; results go into bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from loader import synthetic


@contextmanager
def nchw():
    """The CNN's convolutions in NCHW, as before channels-last."""
    from relhead.train.model import ConvNet

    forward = ConvNet.forward
    ConvNet.forward = lambda self, x: self.stages(self.stem(x))
    try:
        yield
    finally:
        ConvNet.forward = forward


def train_step(model, opt, batch: dict, cfg, bf16: bool) -> float:
    """One optimizer step of `relhead train`'s loop (relhead.train.train, on CPU) on `batch`; its loss."""
    from relhead.train.train import batch_loss

    loss, _ = batch_loss(model, batch, cfg, torch.device("cpu"), bf16)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip if cfg.optim.clip > 0 else float("inf"))
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


class Setting:
    """A model and optimizer of one setting, its step and its inference, each under the setting's switches."""

    def __init__(self, label: str, training: str, sets: list[str], batch: dict):
        from relhead.train.config import resolve_training
        from relhead.train.runs import build_model

        precision, *rest = label.split("+")
        if precision not in ("fp32", "bf16"):
            raise SystemExit(f"{label}: a setting starts with fp32 or bf16")
        self.mode = nchw if "nchw" in rest else nullcontext
        self.cfg = resolve_training(training, [*sets, *(r for r in rest if "=" in r), f"precision={precision}"])
        self.bf16 = precision == "bf16"
        torch.manual_seed(self.cfg.seed)
        self.model = build_model(self.cfg, log=lambda m: None).train()
        self.opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=self.cfg.optim.lr)
        self.batch = batch

    def steps(self, n: int) -> list[float]:
        with self.mode():
            return [train_step(self.model, self.opt, self.batch, self.cfg, self.bf16) for _ in range(n)]

    def infer(self, n: int) -> None:
        from relhead.train.eval import predict_poses

        self.model.eval()
        with self.mode(), torch.no_grad():
            for _ in range(n):
                predict_poses(self.model, self.batch["images"], self.cfg.mode, torch.device("cpu"), self.bf16,
                              self.cfg.test_time)
        self.model.train()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interleave", nargs="+", default=["fp32", "bf16", "fp32+nchw"], metavar="SETTING")
    ap.add_argument("--training", default="small-cpu")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every setting")
    ap.add_argument("--data", action="append", default=[], help="corpus folder (default: a synthetic one)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8, help="training steps a block")
    ap.add_argument("--infer", type=int, default=2, help="evaluation batches a block (0: no inference)")
    ap.add_argument("--reps", type=int, default=4)
    a = ap.parse_args()

    from relhead.train.config import resolve_training
    from relhead.train.data import open_corpora, train_loader

    cfg = resolve_training(a.training, a.set)
    data = a.data or [str(synthetic(Path(tempfile.mkdtemp(prefix="relhead-step-")), 1, 8, 4, 128))]
    corpora = open_corpora(data)
    batch = next(iter(train_loader(corpora, cfg.data.model_copy(update={"workers": 0}), cfg.size, cfg.mode, cfg.seed)))
    torch.set_num_threads(a.threads)
    settings = {label: Setting(label, a.training, a.set, batch) for label in a.interleave}
    for label, s in settings.items():  # warm-up; the first losses show each setting trains the same function
        print(f"{label}: first losses {', '.join(f'{x:.5f}' for x in s.steps(3))}", flush=True)
    B = cfg.data.batch
    rates = {label: {"step": [], "infer": []} for label in settings}
    for r in range(a.reps):
        for label in (a.interleave if r % 2 == 0 else a.interleave[::-1]):
            s = settings[label]
            t = time.perf_counter()
            s.steps(a.steps)
            rates[label]["step"].append(a.steps * B / (time.perf_counter() - t))
            if a.infer:
                t = time.perf_counter()
                s.infer(a.infer)
                rates[label]["infer"].append(a.infer * B / (time.perf_counter() - t))
    first = a.interleave[0]
    print(f"\n{cfg.name}: {cfg.model.preset} {cfg.size}px, batch {B}, {a.threads} torch thread(s), {a.reps} repeats "
          f"(ABBA), {a.steps} steps and {a.infer} evaluation batches a block (test_time: {', '.join(cfg.test_time) or 'none'})")
    print("| setting | training step, pairs/s | vs the first: median (min-max) | evaluation, pairs/s | vs the first |")
    print("|---|---|---|---|---|")
    for label, rr in rates.items():
        cells = []
        for kind in ("step", "infer"):
            if not rr[kind]:
                cells += ["", ""]
                continue
            ratios = [x / y for x, y in zip(rr[kind], rates[first][kind])]
            cells += [f"{statistics.median(rr[kind]):.1f}",
                      f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
