"""Training on a GPU, as one short prepared script for a lent device machine (not CI): pairs per second
and peak memory of `small-cpu`'s model and of `vggt-1b-lora` at 518 px in bf16, at batch 1 and at the
largest batch that fits (doubling until CUDA runs out of memory), on a corpus carried to the machine.

    python bench/gpu.py --data CORPUS [--init VGGT1B.safetensors] [--out OUT] [--steps 12] [--max-batch 64]

Every row is a real `relhead train` run in its own process (so an out-of-memory run cannot poison the
next), of --steps steps; pairs/s is the median of the logged rates after the first log, memory the
trainer's `peak_mem_gib`. Without --init, VGGT-1B's weights are random (speed and memory do not depend
on their values): the script saves them once to OUT/vggt-1b-random.safetensors, so the LoRA run loads
a file as a user's does. `--device cpu --tiny` runs the same code path on a CPU with tiny models (the
test of this script where no GPU is lent). Prints a markdown table; writes OUT/gpu.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TINY = ["model.overrides={embed_dim: 32, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2, cnn_width: 8}",
        "data.size=32"]
TINY_VGGT = ["model.overrides={embed_dim: 32, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2}",
             "data.size=56", "model.grad_checkpointing=false"]


def random_vggt(path: Path, overrides: list[str]) -> None:
    """VGGT-1B (or its tiny stand-in) with random weights, as a safetensors file."""
    import torch
    from safetensors.torch import save_file

    from relhead.train.config import resolve_training
    from relhead.train.runs import empty_model

    cfg = resolve_training("vggt-1b-lora", overrides + ["finetune=scratch"])
    torch.manual_seed(0)
    model = empty_model(cfg, weights_follow=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def row(data: str, out: Path, training: str, batch: int, steps: int, sets: list[str], init: str | None) -> dict:
    run = out / f"{training}-b{batch}"
    cmd = [sys.executable, "-m", "relhead.cli", "train", "--data", data, "--out", str(run), "--training", training,
           "--set", f"steps={steps}", "--set", f"data.batch={batch}", "--set", "log_every=2", "--set", "eval_every=0",
           "--set", "checkpoint_every=0", "--set", "plot=false", "--set", "data.holdout_every=1000000"]
    cmd += [a for s in sets for a in ("--set", s)] + (["--init", init] if init else [])
    print("$", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        oom = "out of memory" in (r.stderr + r.stdout).lower()
        print((r.stderr or r.stdout).strip().splitlines()[-1] if (r.stderr or r.stdout).strip() else "failed")
        return {"training": training, "batch": batch, "failed": "out of memory" if oom else r.stderr[-500:]}
    recs = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln]
    rates = [x["pairs_per_s"] for x in recs if "pairs_per_s" in x][1:] or [0.0]
    mem = max([x.get("peak_mem_gib", 0.0) for x in recs] or [0.0])
    return {"training": training, "batch": batch, "pairs_per_s": statistics.median(rates), "peak_mem_gib": mem}


def sweep(data, out, training, steps, sets, init, max_batch) -> list[dict]:
    rows, batch = [], 1
    while batch <= max_batch:
        r = row(data, out, training, batch, steps, sets, init)
        rows.append(r)
        if "failed" in r:
            break
        batch *= 2
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a relhead corpus (carried to the machine)")
    ap.add_argument("--init", help="VGGT-1B weights (.safetensors/.pt); default: random ones")
    ap.add_argument("--out", default=None, help="folder for the runs and gpu.json (default: a temporary one)")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="tiny models (a CPU check of this script)")
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="relhead-gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    common = [f"device={a.device}", "data.workers=2"]
    small_sets = common + (TINY if a.tiny else [])
    vggt_sets = common + (TINY_VGGT if a.tiny else [])
    init = a.init
    if not init:
        init = str(out / "vggt-1b-random.safetensors")
        if not Path(init).exists():
            random_vggt(Path(init), TINY_VGGT if a.tiny else [])
    rows = sweep(a.data, out, "small-cpu", a.steps, small_sets, None, a.max_batch)
    rows += sweep(a.data, out, "vggt-1b-lora", a.steps, vggt_sets, init, a.max_batch)
    (out / "gpu.json").write_text(json.dumps({"device": a.device, "tiny": a.tiny, "rows": rows}, indent=1))
    print("\n| training | batch | pairs/s | peak memory (GiB) |\n|---|---|---|---|")
    for r in rows:
        if "failed" in r:
            print(f"| {r['training']} | {r['batch']} | {r['failed'][:60]} | - |")
        else:
            print(f"| {r['training']} | {r['batch']} | {r['pairs_per_s']:.1f} | {r['peak_mem_gib']:.2f} |")
    print(f"\n{out / 'gpu.json'}")


if __name__ == "__main__":
    main()
