"""The relative-vs-absolute experiment: render the `relative-vs-absolute` corpus, train the `small`
relative model and its absolute twin on the same data with the same budget, evaluate both on the
held-out groups, and print the comparison (overall, easy/hard, and by the query's angle from frontal).

    python bench/experiment.py [--out experiment] [--steps 3000] [--skip-render] [--table-only]

Each step is the CLI a user would run (printed before it runs), so the experiment resumes where it
stopped: the render skips finished shards, a run folder with a final checkpoint is not retrained.
Results go to OUT/results.json and, by hand, into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

MODES = ("relative", "absolute")


def run(cmd: list[str]) -> float:
    print("$", shlex.join(cmd), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def trained(run_dir: Path, steps: int) -> bool:
    metrics = run_dir / "metrics.jsonl"
    return metrics.exists() and any(json.loads(ln).get("step") == steps for ln in metrics.read_text().splitlines() if ln)


def table(results: dict) -> str:
    rows = [("overall", lambda s: s["overall"]), ("easy pairs", lambda s: s["easy"]), ("hard pairs", lambda s: s["hard"])]
    rows += [(f"query {k} deg", lambda s, k=k: s["query_angle"][k]) for k in results["relative"]["relative"]["query_angle"]]
    out = [f"{'pairs':16s} {'n':>5s} | {'relative: rot':>13s} {'ypr':>6s} {'t (m)':>7s} | {'absolute: rot':>13s} {'ypr':>6s} {'t (m)':>7s} | {'abs/rel rot':>11s}"]
    for name, pick in rows:
        r, a = pick(results["relative"]["relative"]), pick(results["absolute"]["relative"])
        if not r["n"]:
            continue
        out.append(f"{name:16s} {r['n']:5d} | {r['rot_deg']:13.2f} {r['ypr_deg']:6.2f} {r['t_m']:7.4f} | "
                   f"{a['rot_deg']:13.2f} {a['ypr_deg']:6.2f} {a['t_m']:7.4f} | {a['rot_deg'] / r['rot_deg']:10.2f}x")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="experiment")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--skip-render", action="store_true", help="use the corpus already in OUT/data")
    ap.add_argument("--table-only", action="store_true", help="print the table of the finished runs")
    a = ap.parse_args()
    out = Path(a.out)
    corpus = out / "data" / "relative-vs-absolute"
    relhead = [sys.executable, "-m", "relhead.cli"]
    wall = {}
    if not a.table_only:
        if not a.skip_render:
            wall["render"] = run(relhead + ["render", "--pipeline", "relative-vs-absolute", "--out", str(out / "data")])
        for mode in MODES:
            run_dir = out / "runs" / mode
            if not trained(run_dir, a.steps):
                cmd = ["train", "--data", str(corpus), "--out", str(run_dir), "--mode", mode,
                       "--set", f"steps={a.steps}", "--set", "eval_every=500"]
                wall[f"train {mode}"] = run(relhead + cmd + (["--resume"] if (run_dir / "checkpoint").exists() else []))
            wall[f"eval {mode}"] = run(relhead + ["eval", "--checkpoint", str(run_dir)])
    results = {m: json.loads((out / "runs" / m / "eval.json").read_text()) for m in MODES}
    manifest = json.loads((corpus / "manifest.json").read_text())
    done = [e for e in manifest["shards"].values() if e["status"] == "done"]
    summary = {"corpus": {"groups": sum(e["groups"][1] - e["groups"][0] for e in done),
                          "views": sum(e["views"] for e in done), "size": manifest["config"]["image"]["width"]},
               "steps": a.steps, "wall_s": wall,
               "pairs": results["relative"]["pairs"], "held_out_groups": results["relative"]["groups"],
               "relative": {m: results[m]["relative"] for m in MODES}}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"\ncorpus: {summary['corpus']['groups']} groups, {summary['corpus']['views']} views at "
          f"{summary['corpus']['size']} px; {a.steps} steps each; {summary['pairs']} held-out pairs in "
          f"{summary['held_out_groups']} groups; errors of the relative transform (absolute twin: derived "
          f"from its two single-frame predictions)")
    print(table(results))


if __name__ == "__main__":
    main()
