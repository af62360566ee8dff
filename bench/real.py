"""The real-photo measure of a trained run (issue 26): the exact roll test on real face photos that
installed packages ship, the same test on held-out renders, the ordinary held-out relative error, and
real / synthetic ratios (relhead.train.real says exactly what is measured).

    python bench/real.py --checkpoint RUN [--data CORPUS ...] [--angles 10,20,30,45] [--max-views N]
                         [--held-out-pairs N] [--render-box mtcnn|true] [--test-time swap,mirror] [--out FILE]

Writes JSON (default RUN/real.json, which `relhead report RUN` shows as a section) and prints a
markdown table. Needs the photos' packages (scikit-image, in relhead's `test` extra, and matplotlib)
and MTCNN's weights (`pip install --no-deps facenet-pytorch==2.6.0`); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from relhead.train.real import ANGLES, markdown, measure


def run(checkpoint, data=None, angles=ANGLES, max_views: int = 0, held_out_pairs: int = 0, out=None,
        render_box: str = "mtcnn", test_time=None) -> dict:
    res = measure(checkpoint, data, tuple(angles), max_views=max_views, held_out_limit=held_out_pairs,
                  render_box=render_box, test_time=test_time)
    path = Path(out) if out else Path(checkpoint) / "real.json"
    path.write_text(json.dumps(res, indent=1))
    res["out"] = str(path)
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a training run folder")
    ap.add_argument("--data", action="append", default=None, help="corpora (default: those the run trained on)")
    ap.add_argument("--angles", default=",".join(f"{a:g}" for a in ANGLES), help="|roll| degrees, both signs")
    ap.add_argument("--max-views", type=int, default=0, help="held-out views for the synthetic roll test; 0: all")
    ap.add_argument("--held-out-pairs", type=int, default=0, help="ordinary held-out pairs; 0: all")
    ap.add_argument("--render-box", choices=("mtcnn", "true"), default="mtcnn",
                    help="crop renders around MTCNN's box (like the photos) or their true face box")
    ap.add_argument("--test-time", default=None, help="comma-separated exact test-time variants averaged (swap, "
                    "mirror; 'none' for none) in place of the run's own test_time")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    angles = [float(v) for v in a.angles.split(",") if v]
    test_time = None if a.test_time is None else [v for v in a.test_time.split(",") if v and v != "none"]
    res = run(a.checkpoint, a.data, angles, a.max_views, a.held_out_pairs, a.out, a.render_box, test_time)
    print(f"{a.checkpoint} -> {res['out']}\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
