"""The relative-vs-absolute experiment, with its baselines, on the data users render.

Corpora: `realistic` (every realism part on) and `relative-vs-absolute` (the same seed, so the same
subjects, poses, cameras and HDRIs, bald and bare: "bald" below). Runs, each the same wall time:

    small-rel    small-cpu, relative,  on realistic
    small-abs    small-cpu, absolute,  on realistic (the absolute twin)
    cnn-rel      cnn-cpu,   relative,  on realistic (the plain-CNN baseline on the two images)
    cnn-abs      cnn-cpu,   absolute,  on realistic (the plain CNN on one image; two predictions composed)
    small-bald   small-cpu, relative,  on bald

Equal wall time: before training, every (model, mode) trains a few steps to measure its pairs per
second on this machine, side by side; its run then gets the steps that fill `--minutes` at that rate
(a fixed step count, so a run stays deterministic and resumable; its real wall time is reported).
Every run is evaluated on realistic's held-out groups (small-bald included: the same subjects' held-out
groups, with the realism parts; `--split held-out`), the trivial no-rotation baseline on the same pairs.

    python bench/experiment.py [--out experiment] [--minutes 60] [--runs small-rel,cnn-rel] [--table-only]

Every run is then measured on real photos (bench/real.py: the roll test on the photos installed packages
ship, beside the same test on held-out renders; RUN/real.json).

Every step is the CLI a user would run (printed before it runs), so the experiment resumes: the render
skips finished shards, a finished run is not retrained. Results: OUT/results.json, OUT/curves.png, and
the table printed (copied by hand into bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = {  # name: (training, mode, corpus)
    "small-rel": ("small-cpu", "relative", "realistic"),
    "small-abs": ("small-cpu", "absolute", "realistic"),
    "cnn-rel": ("cnn-cpu", "relative", "realistic"),
    "cnn-abs": ("cnn-cpu", "absolute", "realistic"),
    "small-bald": ("small-cpu", "relative", "relative-vs-absolute"),
}
EVAL_ON = "realistic"


def run(cmd: list[str]) -> float:
    print("$", shlex.join(cmd), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln] if path.exists() else []


def finished(run_dir: Path, steps: int) -> bool:
    return any(r.get("step") == steps and "eval" in r for r in metrics(run_dir))


def calibrate(relhead: list[str], out: Path, training: str, mode: str, corpus: Path, steps: int) -> float:
    """Pairs per second of a training (median of its logged rates after the first log), measured by a
    short run of its own."""
    cal = out / "calibration" / f"{training}-{mode}"
    if not finished(cal, steps):
        if cal.exists():
            import shutil

            shutil.rmtree(cal)
        run(relhead + ["train", "--data", str(corpus), "--out", str(cal), "--training", training, "--mode", mode,
                       "--set", f"steps={steps}", "--set", "log_every=5", "--set", "eval_max_pairs=16",
                       "--set", "checkpoint_every=0", "--set", "plot=false"])
    rates = [r["pairs_per_s"] for r in metrics(cal) if "pairs_per_s" in r][1:]
    return statistics.median(rates)


def rows_of(section: dict) -> list[tuple[str, dict]]:
    rows = [("overall", section["overall"]), ("easy", section["easy"]), ("hard", section["hard"])]
    return rows + [(f"q {k}", v) for k, v in section["query_angle"].items()]


def table(results: dict) -> str:
    """Markdown: a row per run (and the identity), geodesic error of the relative rotation (deg)."""
    first = next(iter(results.values()))
    cols = [name for name, s in rows_of(first["relative"]) if s["n"]]
    head = "| run | trained on | " + " | ".join(cols) + " | t (m) |"
    lines = [head, "|" + "---|" * (len(cols) + 3)]
    ident = {n: s for n, s in rows_of(first["identity"])}
    lines.append("| identity (no rotation) | - | " + " | ".join(f"{ident[c]['rot_deg']:.2f}" for c in cols)
                 + f" | {first['identity']['overall']['t_m']:.3f} |")
    for name, res in results.items():
        rel = dict(rows_of(res["relative"]))
        lines.append(f"| {name} | {res['trained_on']} | " + " | ".join(f"{rel[c]['rot_deg']:.2f}" for c in cols)
                     + f" | {res['relative']['overall']['t_m']:.3f} |")
    counts = " ".join(f"{c} {ident[c]['n']}" for c in cols)
    return "\n".join(lines) + f"\n\npairs per column: {counts}"


def real_table(out: Path, names: list[str]) -> str:
    """Markdown: bench/real.py's roll test per run (RUN/real.json), real photos beside held-out renders,
    with the no-rotation baseline's row; '' when no run has been measured."""
    from relhead.train.real import interval_text

    rows = {n: json.loads(p.read_text()) for n in names if (p := out / "runs" / n / "real.json").exists()}
    if not rows:
        return ""
    first = next(iter(rows.values()))["real"]["summary"]
    angles = list(first["by_roll"])
    head = ("| run | real: median | its 95% interval | " + " / ".join(f"±{a}" for a in angles) + " | roll gain | swap / cycle "
            "| renders: median | real / synthetic | its 95% interval |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|",
             f"| identity (no rotation) | {first['identity']:.1f} | | " + " / ".join(angles) + " | 0 | 0 / 0 | | | |"]
    for n, r in rows.items():
        real, syn = r["real"]["summary"], r["synthetic"]["summary"]
        lines.append(f"| {n} | {real['median']:.1f} | {interval_text(real.get('median_ci'))} | "
                     + " / ".join(f"{real['by_roll'][a]['median']:.1f}" for a in angles)
                     + f" | {real['roll_gain']:.2f} | {real['swap_median']:.1f} / {real['cycle_median']:.1f} "
                     f"| {syn['median']:.1f} | {r['ratio']['median']:.2f} | {interval_text(r['ratio'].get('median_ci'), 2)} |")
    return "\n".join(lines)


def plot(out: Path, runs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, info in runs.items():
        rows = metrics(out / "runs" / name)
        evals = [r for r in rows if "eval" in r]
        if not evals:
            continue
        steps = [r["step"] for r in evals]
        minutes = [s / info["steps"] * info["minutes"] for s in steps]
        err = [r["eval"]["rot_deg"] for r in evals]
        axes[0].plot(minutes, err, "o-", label=name)
        loss = [r for r in rows if "loss" in r]
        axes[1].plot([r["step"] / info["steps"] * info["minutes"] for r in loss],
                     _ema([r["q"] for r in loss]), label=name)
    ident = [r["eval"].get("identity_rot_deg") for r in metrics(out / "runs" / "small-rel") if "eval" in r]
    if ident and ident[-1]:
        axes[0].axhline(ident[-1], color="gray", ls="--", label="no rotation (identity)")
    axes[0].set(xlabel="training time (min, nominal)", ylabel="held-out relative rotation error (deg)",
                title="held-out error during training (its own corpus' held-out groups)", ylim=(0, None))
    axes[1].set(xlabel="training time (min, nominal)", ylabel="rotation loss (training batches, EMA)",
                title="training rotation loss (geodesic, rad; absolute runs: one frame's)", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


def _ema(values, a=0.95):
    out, m = [], values[0] if values else 0
    for v in values:
        m = a * m + (1 - a) * v
        out.append(m)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="experiment")
    ap.add_argument("--minutes", type=float, default=60.0, help="training wall time of every run")
    ap.add_argument("--calibration-steps", type=int, default=40)
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ", ".join(RUNS))
    ap.add_argument("--skip-render", action="store_true", help="use the corpora already in OUT/data")
    ap.add_argument("--table-only", action="store_true", help="print the table of the finished runs")
    a = ap.parse_args()
    out = Path(a.out)
    names = [n for n in a.runs.split(",") if n]
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        sys.exit(f"--runs: unknown {unknown}; choose from {', '.join(RUNS)}")
    relhead = [sys.executable, "-m", "relhead.cli"]
    corpora = {c: out / "data" / c for c in {RUNS[n][2] for n in names} | {EVAL_ON}}
    plan_file = out / "plan.json"
    plan = json.loads(plan_file.read_text()) if plan_file.exists() else {}
    if not a.table_only:
        if not a.skip_render:
            for c in sorted(corpora):
                run(relhead + ["render", "--pipeline", c, "--out", str(out / "data")])
        for n in names:  # the steps that fill the wall time, measured side by side before any run
            training, mode, corpus = RUNS[n]
            key = f"{training}/{mode}"
            if key not in plan:
                rate = calibrate(relhead, out, training, mode, corpora[EVAL_ON], a.calibration_steps)
                plan[key] = {"pairs_per_s": rate}
                plan_file.write_text(json.dumps(plan, indent=1))
        for n in names:
            training, mode, corpus = RUNS[n]
            key = f"{training}/{mode}"
            from relhead.train.config import resolve_training

            batch = resolve_training(training).data.batch
            steps = max(10, round(a.minutes * 60 * plan[key]["pairs_per_s"] / batch))
            plan[n] = {"steps": steps, "minutes": a.minutes, "pairs_per_s": plan[key]["pairs_per_s"]}
            plan_file.write_text(json.dumps(plan, indent=1))
            run_dir = out / "runs" / n
            if not finished(run_dir, steps):
                cmd = ["train", "--data", str(corpora[corpus]), "--out", str(run_dir), "--training", training,
                       "--mode", mode, "--set", f"steps={steps}", "--set", f"eval_every={max(1, steps // 8)}",
                       "--set", f"checkpoint_every={max(1, steps // 8)}"]
                resume = (run_dir / "checkpoint" / "state.pt").exists()
                plan[n]["wall_s"] = plan[n].get("wall_s", 0.0) + run(relhead + cmd + (["--resume"] if resume else []))
                plan_file.write_text(json.dumps(plan, indent=1))
            run(relhead + ["eval", "--checkpoint", str(run_dir), "--data", str(corpora[EVAL_ON]), "--split",
                           "held-out", "--out", str(run_dir / "eval_realistic.json")])
            if not (run_dir / "real.json").exists():  # the real-photo measure (issue 26), on the run's own corpora
                run([sys.executable, str(Path(__file__).with_name("real.py")), "--checkpoint", str(run_dir)])
    results = {}
    for n in names:
        path = out / "runs" / n / "eval_realistic.json"
        if path.exists():
            res = json.loads(path.read_text())
            res["trained_on"] = RUNS[n][2]
            results[n] = res
    if not results:
        sys.exit("no finished runs")
    runs = {n: plan[n] for n in results if n in plan}
    plot(out, runs)
    first = next(iter(results.values()))
    summary = {"corpora": {c: str(p) for c, p in corpora.items()}, "evaluated_on": EVAL_ON,
               "pairs": first["pairs"], "groups": first["groups"], "plan": plan,
               "runs": {n: {"trained_on": r["trained_on"], "relative": r["relative"], "query": r["query"]}
                        for n, r in results.items()},
               "identity": first["identity"]}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"\nheld-out {first['pairs']} pairs in {first['groups']} groups of {EVAL_ON}; geodesic error of the "
          f"relative rotation, degrees (absolute runs: from their two single-frame predictions)\n")
    print(table(results))
    real = real_table(out, list(results))
    if real:
        print("\nthe roll test on real photos and on held-out renders (bench/real.py), median geodesic error, degrees\n")
        print(real)
    for n, info in runs.items():
        wall = info.get("wall_s")
        print(f"{n}: {info['steps']} steps at {info['pairs_per_s']:.1f} pairs/s measured"
              + (f", trained in {wall / 60:.1f} min" if wall else ""))
    print(f"curves: {out / 'curves.png'}")


if __name__ == "__main__":
    main()
