"""Training pairs per second of the data loader (read, hash check, decode, crop, resize, augment,
batch) with 0, 1 and 2 DataLoader workers, side by side in one run, against the training step's
demand (pairs per second of a `small` model's optimizer step, measured in the same run).

    python bench/loader.py [--data CORPUS] [--training small-cpu] [--batches 12] [--steps 5] [--set k=v ...]
    python bench/loader.py --data CORPUS ... --resume 1000    # seconds to a resumed stream's first batch

Without --data it makes its own corpus without Blender (tests/synthetic.py: the fake head splatted
over a flat background, 256 px PNG); such PNGs decode faster than renders, so pass a rendered corpus
for the real figure. The step runs in this process with torch's default threads while no loader runs.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def synthetic(out: Path, shards: int, groups: int, views: int, size: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    import fake_head
    from synthetic import synthetic_corpus

    from relhead.config import resolve

    fake_head.register()
    cfg = resolve("test", ["head.model=fake", f"shards={shards}", f"groups_per_shard={groups}", f"views={views}",
                           f"image.width={size}", f"image.height={size}"])
    return synthetic_corpus(cfg, out / "synthetic")


def loader_rate(corpora, cfg, workers: int, batches: int) -> float:
    """Pairs/s after the first batch (worker start-up and the shuffle buffer's fill excluded)."""
    from relhead.train.data import train_loader

    data = cfg.data.model_copy(update={"workers": workers})
    it = iter(train_loader(corpora, data, cfg.size, cfg.mode, cfg.seed))
    next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * data.batch / (time.perf_counter() - t)
    del it
    return rate


def step_rate(corpora, cfg, steps: int) -> float:
    from relhead.train.data import train_loader
    from relhead.train.runs import build_model, resolve_device
    from step import train_step  # bench/step.py: relhead train's step

    data = cfg.data.model_copy(update={"workers": 0})
    batch = next(iter(train_loader(corpora, data, cfg.size, cfg.mode, cfg.seed)))
    torch.manual_seed(0)
    model = build_model(cfg, log=lambda m: None).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr)
    bf16 = resolve_device(cfg)[1]
    train_step(model, opt, batch, cfg, bf16)  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, batch, cfg, bf16)
    return steps * data.batch / (time.perf_counter() - t)


def resume_seconds(corpora, cfg, skip: int, headers: bool) -> float:
    """Seconds to the first batch of a stream resumed after `skip` batches (one loader slot, in this
    process): passing over the skipped draws by the shards' tar headers (as relhead does), or reading
    every skipped group as a straight stream does (how resuming worked before shard_index)."""
    from relhead.train.data import TrainPairs

    class ReadAll(TrainPairs):
        def draws(self, slot, slots, skipping=None):
            return super().draws(slot, slots, None)

    kind = TrainPairs if headers else ReadAll
    t = time.perf_counter()
    next(iter(kind(corpora, cfg.data, cfg.size, cfg.mode, cfg.seed, skip_batches=skip)))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", default=[], help="corpus folder (default: make a synthetic one)")
    ap.add_argument("--training", default="small-cpu")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--batches", type=int, default=12, help="batches timed per worker count")
    ap.add_argument("--steps", type=int, default=5, help="training steps timed")
    ap.add_argument("--image-size", type=int, default=256, help="synthetic corpus image side")
    ap.add_argument("--resume", type=int, default=0, metavar="N",
                    help="instead: seconds to the first batch after N skipped, by headers and by reading (twice, interleaved)")
    a = ap.parse_args()

    from relhead.train.config import resolve_training
    from relhead.train.data import open_corpora

    cfg = resolve_training(a.training, a.set)
    data = a.data or [str(synthetic(Path(tempfile.mkdtemp(prefix="relhead-loader-")), 4, 8, 4, a.image_size))]
    corpora = open_corpora(data)
    if a.resume:
        times = {True: [], False: []}
        for order in ((True, False), (False, True)):
            for headers in order:
                times[headers].append(resume_seconds(corpora, cfg, a.resume, headers))
        h, r = (sum(times[k]) / 2 for k in (True, False))
        print(f"resumed after {a.resume} batches of {cfg.data.batch}: by tar headers {h:.1f} s "
              f"({', '.join(f'{x:.1f}' for x in times[True])}), reading every skipped group {r:.1f} s "
              f"({', '.join(f'{x:.1f}' for x in times[False])}): {r / h:.1f}x")
        return
    demand = step_rate(corpora, cfg, a.steps)
    rates = {w: loader_rate(corpora, cfg, w, a.batches) for w in (0, 1, 2)}
    print(f"{cfg.name}: {cfg.model.preset} {cfg.size}px, batch {cfg.data.batch}, augment "
          f"{'on' if cfg.data.augment.enabled else 'off'}; data {', '.join(data)}; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'source':26s} {'pairs/s':>9s} {'vs 0 workers':>13s} {'vs step demand':>15s}")
    for w, r in rates.items():
        print(f"{f'loader, {w} workers':26s} {r:9.1f} {r / rates[0]:13.2f} {r / demand:15.2f}")
    print(f"{'training step (demand)':26s} {demand:9.1f} {demand / rates[0]:13.2f} {1.0:15.2f}")


if __name__ == "__main__":
    main()
