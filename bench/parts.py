"""What each realism part costs: seconds per view of the same sampled scenes without and with each
part, side by side in one run.

    python bench/parts.py [--groups 3] [--views 2] [--size 256] [--pipeline quickstart] [--only NAME]

Each row makes a one-shard corpus with the real pipeline twice and reads s/view from the second
shard record (the first builds the scene and loads the groups' HDRIs). Rows share the pipeline's seed,
and the parts draw from random streams of their own, so every row shows the same heads, poses,
cameras and HDRIs. Not part of the tests; results go into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from relhead.config import resolve
from relhead.datasets.generate import generate

OFF = {"lights": "lighting.light_count=[0,0]", "tints": "skin.region_tint=[0,0]", "brows": "hair.brows=[0,0]",
       "short": "hair.short_hair=0", "strands": "hair.strands=0", "facial": "hair.facial_hair=0",
       "garment": "clothing.fraction=0", "glasses": "accessories.glasses=0", "hats": "accessories.hats=0",
       "lashes": "hair.lashes=[0,0]"}
BARE = list(OFF.values())


def bare_but(*parts: str) -> list[str]:
    """Every part off but `parts` (which the row then switches on)."""
    return [v for k, v in OFF.items() if k not in parts]


ROWS = {
    "bare: HDRI light, plain skin": BARE,
    "+ lip/ear/eyelid tints, brows, short hair on every head": bare_but("tints", "brows", "short") + [
        "skin.region_tint=[1,1]", "hair.brows=[1,1]", "hair.short_hair=1"],
    "+ 1-2 extra lights": bare_but("lights") + ["lighting.light_count=[1,2]"],
    "+ a garment (every head)": bare_but("garment") + ["clothing.fraction=1"],
    "+ strand hair (every head, 12-20k strands)": bare_but("strands") + ["hair.strands=1"],
    "+ strand hair, 6-8k strands": bare_but("strands") + ["hair.strands=1", "hair.strand_count=[6000,8000]"],
    "+ facial hair (every adult man, styles mixed)": bare_but("facial") + ["hair.facial_hair=1"],
    "+ glasses (every head, a quarter tinted)": bare_but("glasses") + ["accessories.glasses=1"],
    "+ a hat (every head)": bare_but("hats") + ["accessories.hats=1"],
    "+ eyelashes (every head)": bare_but("lashes") + ["hair.lashes=[1,1]"],
    "+ collared shirts and hoodies (every head)": bare_but("garment") + ["clothing.fraction=1",
                                                                          "clothing.styles=[collared,hoodie]"],
    "+ tied-back hair (every head, ponytail or bun)": bare_but("strands") + ["hair.strands=1", "hair.styles=[ponytail,bun]"],
    "+ MPFB's enhanced skin node tree": BARE + ["render.skin_shader=mpfb"],
    "+ sensor noise, vignette, CA (every view)": BARE + ["effects.fraction=1"],
    "+ depth of field (every view)": BARE + ["effects.defocus_fraction=1"],
    "+ motion blur (every view)": BARE + ["effects.motion_blur_fraction=1"],
}


def seconds_per_view(pipeline: str, sets: list[str], groups: int, views: int, size: int, tmp: Path) -> float:
    common = [f"views={views}", f"image.width={size}", f"image.height={size}", "shards=1"]
    cfg = resolve(pipeline, common + sets + [f"groups_per_shard={groups}"])
    generate(cfg, tmp / "warm", log=lambda *_: None)  # untimed: builds the scene, loads these groups' HDRIs
    generate(cfg, tmp / "run", log=lambda *_: None)
    record = json.loads((tmp / "run" / "shard-000000.json").read_text())
    return record["stats"]["seconds"] / (groups * views)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--pipeline", default="quickstart")
    ap.add_argument("--only", default=None, help="the bare row and the rows whose name contains this")
    a = ap.parse_args()
    print(f"{platform.node()} {platform.machine()}, {a.pipeline} at {a.size} px, {a.groups} groups x {a.views} views")
    base = None
    print("| part | s/view | vs bare |\n|---|---|---|")
    rows = dict(ROWS, **{f"the {a.pipeline} pipeline as shipped": []})
    if a.only:
        first = next(iter(rows))
        rows = {k: v for k, v in rows.items() if k == first or a.only in k}
    for name, sets in rows.items():
        with tempfile.TemporaryDirectory(prefix="relhead-parts-") as tmp:
            s = seconds_per_view(a.pipeline, sets, a.groups, a.views, a.size, Path(tmp))
        base = base or s
        print(f"| {name} | {s:.3f} | {s / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
