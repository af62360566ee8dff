"""Command line: `relhead render`, `sweep`, `verify`, `preview`, `export` (data) and `train`, `eval`, `predict`
(model; torch is imported only by these), `report` (a run's HTML page)."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import textwrap
from pathlib import Path

from relhead.config import ConfigError, resolve, resolve_sweep


def _shard_range(text: str | None, total: int) -> range | None:
    if not text:
        return None
    start, sep, stop = text.partition(":")
    try:
        r = range(int(start or 0), int(stop) if sep and stop else total)
    except ValueError:
        raise ConfigError(f"--shards {text!r}: expected START:STOP, e.g. 0:10") from None
    if r.start < 0 or r.stop > total or r.start >= r.stop:
        raise ConfigError(f"--shards {text!r}: must lie within 0:{total} and be non-empty")
    return r


def _check_assets(cfg) -> None:
    """The HDRIs, background photos, skin textures and head backend's files exist and can be read (a
    ConfigError naming the key and the file when not), before anything is written."""
    from relhead.datasets.generate import check_assets

    check_assets(cfg)


def _check_parallel(args) -> None:
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be >= 1")
    if args.scheduler and args.workers > 1:
        raise ConfigError("--workers and --scheduler exclude each other (a Dask cluster has its own workers)")
    if args.lease_timeout <= 0:
        raise ConfigError(f"--lease-timeout {args.lease_timeout}: must be > 0 seconds")


def cmd_render(args) -> int:
    cfg = resolve(args.pipeline, args.set, args.config)
    shards = _shard_range(args.shards, cfg.shards)
    _check_parallel(args)
    _check_assets(cfg)
    from relhead.datasets.generate import generate

    generate(cfg, Path(args.out) / cfg.name, shards=shards, workers=args.workers, scheduler=args.scheduler,
             lease_timeout_s=args.lease_timeout)
    return 0


def cmd_sweep(args) -> int:
    combos = resolve_sweep(args.name, args.set, args.config)
    _check_parallel(args)
    if args.dry_run:
        root = Path(args.out) / args.name
        print(f"sweep {args.name}: {len(combos)} corpora under {root}/")
        for c in combos:
            print(f"  {c.name}  {c.config.shards} shards x {c.config.groups_per_shard} groups x "
                  f"{c.config.views} views  config {c.config.hash()}  {c.values}")
        return 0
    for c in combos:
        _check_assets(c.config)
    from relhead.datasets.sweep import run_sweep

    run_sweep(args.name, combos, Path(args.out), workers=args.workers, scheduler=args.scheduler,
              lease_timeout_s=args.lease_timeout)
    return 0


def cmd_verify(args) -> int:
    from relhead.datasets.verify import verify_corpus

    problems, warns = verify_corpus(args.dir, deep=not args.quick)
    for w in warns:
        print(f"warning: {w}", file=sys.stderr)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print(f"{args.dir}: {'FAILED, ' + str(len(problems)) + ' problem(s)' if problems else 'OK'}")
    return 1 if problems else 0


def _check_image_out(out: Path, given: bool) -> None:
    """The sheet can be written at `out` (its folder made if missing): a ConfigError naming what is
    wrong when not, with nothing written. A default path in a folder that cannot be written (a
    read-only corpus) asks for --out."""
    from PIL import Image

    from relhead.files import write_problem

    if out.suffix.lower() not in Image.registered_extensions():
        raise ConfigError(f"--out {out}: not an image file name (e.g. sheet.png or sheet.jpg)")
    problem = write_problem(out.parent)
    if problem and given:
        raise ConfigError(f"--out {out}: cannot create or write there ({problem})")
    if problem:
        raise ConfigError(f"{out.parent}: cannot write {out.name} there ({problem}); "
                          f"give --out FILE in a folder you can write")


def _drawable(folders: list[Path], root: Path) -> tuple[dict[Path, list[Path]], list[str]]:
    """Each folder's shards a sheet may show (datasets.preview.drawable_shards), leaving out folders with
    none; a ConfigError naming what was skipped when no folder has any."""
    from relhead.datasets.preview import drawable_shards

    found, skipped = {}, []
    for d in folders:
        shards, left = drawable_shards(d)
        skipped += left
        if shards:
            found[d] = shards
    if not found and skipped:
        raise ConfigError(f"{root}: no finished shard to draw (skipped {'; '.join(skipped)})")
    return found, skipped


def cmd_preview(args) -> int:
    from relhead.datasets.preview import contact_sheet, sweep_sheet

    root = Path(args.dir)
    if args.groups < 1:
        raise ConfigError(f"--groups {args.groups}: must be >= 1")
    if args.sweep:
        found, skipped = _drawable([d for d in sorted(root.iterdir()) if d.is_dir()] if root.is_dir() else [], root)
        corpora = [(d.name, shards) for d, shards in found.items()]
        if not corpora:
            raise ConfigError(f"{root}: no corpus folders (with shard-*.tar files) here")
        out = Path(args.out) if args.out else root / "sweep.png"
        _check_image_out(out, bool(args.out))
        sweep_sheet(corpora, out, max_groups=args.groups)
    else:
        here = [root] if (root / "manifest.json").exists() or any(root.glob("shard-*.tar")) else \
            sorted({p.parent for p in root.glob("*/shard-*.tar")} | {p.parent for p in root.glob("*/manifest.json")})
        found, skipped = _drawable(here, root)
        shards = [s for d in found for s in found[d]]
        if not shards:
            raise ConfigError(f"{root}: no shard-*.tar files here or one folder below")
        out = Path(args.out) if args.out else (shards[0].parent / "preview.png")
        _check_image_out(out, bool(args.out))
        contact_sheet(shards, out, max_groups=args.groups, grid=args.grid, labels=not args.plain)
    if skipped:
        print(f"relhead: preview: skipped {'; '.join(skipped)}", file=sys.stderr)
    print(out)
    return 0


def cmd_export(args) -> int:
    from relhead.datasets.export import export_coco

    summary = export_coco(args.corpus, args.out, segmentation=not args.no_segmentation)
    print(f"{args.out}: {summary['images']} images, {summary['annotations']} annotations (COCO)")
    return 0


def cmd_train(args) -> int:
    from relhead.train.config import TrainConfig, resolve_training
    from relhead.train.runs import read_run_config
    from relhead.train.train import train
    from relhead.configbase import validate

    values = {k: v for k, v in (("model.preset", args.model), ("mode", args.mode),
                                ("init", args.init and str(Path(args.init).resolve()))) if v is not None}
    if args.init and not Path(args.init).is_file():
        raise ConfigError(f"--init {args.init}: no such file")
    if args.resume:
        if args.training:
            raise ConfigError("--training and --resume exclude each other: a resumed run keeps its config "
                              "(change keys with --set)")
        try:
            raw, data = read_run_config(args.out)
        except ConfigError as exc:
            raise ConfigError(f"--resume: {exc}") from None
        cfg = validate(TrainConfig, raw, args.set, values, example="steps=2000")
        data = args.data or data
    else:
        cfg = resolve_training(args.training or "small-cpu", args.set, values, args.config)
        data = args.data
    if not data:
        raise ConfigError("--data: give at least one corpus folder")
    if args.until is not None and args.until < 1:
        raise ConfigError(f"--until {args.until}: must be a step >= 1")
    from relhead.train.train import Interrupted

    try:
        train(cfg, data, args.out, resume=args.resume, until=args.until)
    except Interrupted as exc:  # the checkpoint is written and the log says how to go on
        return 128 + exc.signum
    return 0


def cmd_eval(args) -> int:
    from relhead.train.eval import evaluate_run

    if args.batch is not None and args.batch < 1:
        raise ConfigError(f"--batch {args.batch}: must be >= 1")
    if args.known_every < 1:
        raise ConfigError(f"--known-every {args.known_every}: must be >= 1")
    if args.biwi:  # BIWI: real recordings, the relative protocol (train/biwi.py)
        if args.data:
            raise ConfigError("--biwi and --data exclude each other (one evaluation at a time)")
        from relhead.train.biwi import evaluate_biwi_run

        evaluate_biwi_run(args.checkpoint, args.biwi, args.out, device=args.device)
        return 0
    evaluate_run(args.checkpoint, args.data or None, args.out, batch=args.batch, device=args.device, split=args.split,
                 known_every=args.known_every)
    return 0


def cmd_report(args) -> int:
    from relhead.train.report import write_report

    print(write_report(args.run, args.out, worst=args.worst, evals=args.eval,
                       log=lambda msg: print(msg, file=sys.stderr)))
    return 0


def cmd_predict(args) -> int:
    import json

    from relhead.train.detect import resolve_box
    from relhead.train.predict import Predictor, parse_numbers, read_rgb

    anchor, query = read_rgb(args.anchor, "--anchor"), read_rgb(args.query, "--query")
    pose = parse_numbers(args.anchor_pose, 3, "--anchor-pose", "10,-5,0", limit=180)  # degrees
    # a face box per image: given, `full` (the image is the crop), or MTCNN's (train/detect.py)
    (a_box, a_info), (q_box, q_info) = (resolve_box(img, text, opt, path) for img, text, opt, path in (
        (anchor, args.anchor_box, "--anchor-box", f"--anchor {args.anchor}"),
        (query, args.query_box, "--query-box", f"--query {args.query}")))
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device)
    out = predictor.predict(anchor, query, a_box, q_box, pose)
    out["boxes"] = {"anchor": a_info, "query": q_info}
    print(json.dumps(out, indent=1))
    return 0


# --help: one example per command, and the named entries of pipelines.yaml where a command takes a name
EXAMPLES = {
    "relhead": "relhead render --pipeline quickstart --out data/ && relhead preview data/quickstart",
    "render": "relhead render --pipeline quickstart --out data/ --workers 2",
    "sweep": "relhead sweep hair-styles --out sweeps/ --dry-run",
    "verify": "relhead verify data/quickstart",
    "preview": "relhead preview data/quickstart --out sheet.png --groups 4",
    "export": "relhead export --format coco data/quickstart coco/ --no-segmentation",
    "train": "relhead train --data data/quickstart --out runs/small --set steps=300 --set data.holdout_every=3",
    "eval": "relhead eval --checkpoint runs/small",
    "predict": "relhead predict --checkpoint runs/small --anchor coco/images/000000005_view0.png "
               "--query coco/images/000000005_view1.png\n  (views that `relhead export` wrote; see `relhead export --help`)",
    "report": "relhead report runs/small --worst 6",
}


@functools.lru_cache(maxsize=1)
def _pipelines_doc(path: Path) -> dict:
    from relhead.config import load_pipelines

    return load_pipelines(path)


def _named(section: str) -> str:
    """The entries of pipelines.yaml's `section:`, each with the first sentence of its description."""
    import shutil

    from relhead.config import default_pipelines_file

    path = default_pipelines_file()
    try:
        entries = _pipelines_doc(path).get(section) or {}
    except Exception as exc:  # --help lists what it can; the command itself reports a broken file
        return f"{section}: cannot list them ({exc})"
    entries = entries if isinstance(entries, dict) else {}
    width = max(map(len, entries), default=0)
    room = max(40, min(shutil.get_terminal_size().columns, 140) - 2 - width - 4)
    lines = [f"{section} (in {path}; --config FILE names another file):"]
    for name, entry in entries.items():
        text = " ".join(str(entry.get("description", "")).split()) if isinstance(entry, dict) else ""
        lines.append(f"  {name:<{width}}  {_one_line(text, room)}".rstrip())
    return "\n".join(lines)


def _one_line(text: str, room: int) -> str:
    """The first sentence of `text`, cut at a clause's end (or a word's) to fit `room` characters."""
    import re

    first = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    if len(first) <= room:
        return first
    cuts = [m.start() for m in re.finditer(r"[:;,]\s|\s\(", first)  # outside parentheses
            if 20 <= m.start() <= room - 4 and first[:m.start()].count("(") == first[:m.start()].count(")")]
    return first[:cuts[-1]] + " ..." if cuts else textwrap.shorten(first, room, placeholder=" ...")


def _help(command: str, section: str | None = None) -> dict:
    """add_parser's keywords for a command's --help: an example (and the names it can take) after the options."""
    epilog = f"example:\n  {EXAMPLES[command]}" + (f"\n\n{_named(section)}" if section else "")
    return {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--config", default=None, help="pipelines file (default: ./pipelines.yaml, else the one installed with relhead)")
    p.add_argument("--workers", type=int, default=1, help="render shards in N processes on this machine (joblib)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the shard tasks on a dask.distributed scheduler, e.g. tcp://host:8786")
    p.add_argument("--lease-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="a shard whose lease has had no heartbeat this long is taken over from its (dead) run")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relhead", description=__doc__, **_help("relhead"))
    p.epilog += "\n\nEach command's --help shows an example; the reference is docs/cli.md in the repository."
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="render a pipeline's corpus into OUT/PIPELINE/ (resumes)",
                       **_help("render", "pipelines"))
    r.add_argument("--pipeline", required=True, help="a name from pipelines.yaml")
    _add_run_options(r)
    r.add_argument("--shards", default=None, metavar="START:STOP", help="render only these shards")
    r.set_defaults(func=cmd_render)
    s = sub.add_parser("sweep", help="render one corpus per combination of a sweep into OUT/SWEEP/",
                       **_help("sweep", "sweeps"))
    s.add_argument("name", help="a name from the sweeps: section of pipelines.yaml")
    _add_run_options(s)
    s.add_argument("--dry-run", action="store_true", help="list the combinations and stop")
    s.set_defaults(func=cmd_sweep)
    c = sub.add_parser("verify", help="check a corpus: hashes, counts and every group's ground truth",
                       **_help("verify"))
    c.add_argument("dir", help="a corpus folder (holding manifest.json)")
    c.add_argument("--quick", action="store_true", help="hashes and counts only, not the metadata")
    c.set_defaults(func=cmd_verify)
    v = sub.add_parser("preview", help="contact sheet PNG of a corpus with its ground truth drawn",
                       **_help("preview"))
    v.add_argument("dir", help="a corpus folder (or its parent)")
    v.add_argument("--out", default=None, help="PNG path (default: DIR/preview.png)")
    v.add_argument("--groups", type=int, default=8, help="groups to show (rows, or grid cells)")
    v.add_argument("--grid", action="store_true", help="the first view of each group in a square grid")
    v.add_argument("--plain", action="store_true", help="images only, no ground truth drawn")
    v.add_argument("--sweep", action="store_true",
                   help="DIR is a sweep's output: one row per corpus, the first view of its first --groups groups")
    v.set_defaults(func=cmd_preview)
    x = sub.add_parser("export", help="export a corpus to another format (COCO: annotations.json and images/)",
                       **_help("export"))
    x.add_argument("--format", choices=["coco"], required=True,
                   help="coco: OUT/annotations.json and every view's image in OUT/images/GROUP_viewI.EXT")
    x.add_argument("corpus", metavar="CORPUS", help="a corpus folder (holding manifest.json)")
    x.add_argument("out", metavar="OUT", help="a new (or empty) folder")
    x.add_argument("--no-segmentation", action="store_true",
                   help="boxes and keypoints only (a corpus rendered without labels.segmentation)")
    x.set_defaults(func=cmd_export)

    t = sub.add_parser("train", help="train the relative pose model (or its absolute twin) on corpora into RUN",
                       **_help("train", "trainings"))
    t.add_argument("--data", action="append", default=[], metavar="CORPUS", help="a corpus folder (repeatable)")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder (new, or an existing one with --resume)")
    t.add_argument("--training", default=None, help="a name from the trainings: section of pipelines.yaml "
                   "(default small-cpu)")
    t.add_argument("--model", choices=["small", "cnn", "vggt-1b"], default=None,
                   help="model preset (model.preset; cnn: the plain-CNN baseline)")
    t.add_argument("--mode", choices=["relative", "absolute"], default=None,
                   help="relative: pairs of frames (the default); absolute: the single-frame twin")
    t.add_argument("--init", default=None, metavar="PATH", help="checkpoint (.pt/.pth/.safetensors) to start from")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training key (repeatable), e.g. steps=2000")
    t.add_argument("--resume", action="store_true", help="continue RUN from its checkpoint with its config")
    t.add_argument("--until", type=int, default=None, metavar="STEP",
                   help="stop after this step with a checkpoint (the schedule still spans `steps`); --resume goes on")
    t.add_argument("--config", default=None, help="pipelines file holding trainings: (default as for render)")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval", help="errors of a run's checkpoint on held-out or unseen groups (JSON and a table)",
                       **_help("eval"))
    e.add_argument("--checkpoint", required=True, metavar="RUN", help="a training run folder")
    e.add_argument("--data", action="append", default=[], metavar="CORPUS",
                   help="corpus folder (repeatable; default: the run's)")
    e.add_argument("--out", default=None, metavar="FILE", help="JSON file (default RUN/eval.json)")
    e.add_argument("--batch", type=int, default=None, help="pairs per forward pass (default: the run's batch)")
    e.add_argument("--split", choices=["auto", "held-out", "all"], default="auto",
                   help="groups evaluated: auto (default) the held-out groups of a corpus the run trained on and "
                        "every group of any other; held-out or all for every corpus")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when there is a GPU")
    e.add_argument("--known-every", type=int, default=10, metavar="K",
                   help="temporal clips: the anchor policies nearest and fused know every K-th frame's pose")
    e.add_argument("--biwi", default=None, metavar="DIR", help="evaluate on a BIWI Kinect Head Pose copy instead "
                   "(faces_0/NN/ layout; MTCNN crops, first frame the anchor; JSON default RUN/eval_biwi.json)")
    e.set_defaults(func=cmd_eval)
    r = sub.add_parser("predict", help="relative head pose between two images (JSON on stdout)",
                       **_help("predict"))
    r.add_argument("--checkpoint", required=True, metavar="RUN", help="a training run folder")
    r.add_argument("--anchor", required=True, metavar="IMG",
                   help="the anchor image (PNG, JPEG...): the query's pose is predicted relative to its pose")
    r.add_argument("--query", required=True, metavar="IMG", help="the query image")
    r.add_argument("--anchor-box", default=None, metavar="x0,y0,x1,y1",
                   help="face box (default: MTCNN's, mapped to relhead's landmark box; `full`: the image is the face crop)")
    r.add_argument("--query-box", default=None, metavar="x0,y0,x1,y1", help="as --anchor-box")
    r.add_argument("--anchor-pose", default=None, metavar="yaw,pitch,roll",
                   help="the anchor's absolute pose in degrees: adds the query's absolute pose")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when there is a GPU")
    r.set_defaults(func=cmd_predict)
    w = sub.add_parser("report", help="one self-contained HTML page of a run: evaluation tables, curves, worst pairs",
                       **_help("report"))
    w.add_argument("run", metavar="RUN", help="a training run folder with its eval.json (`relhead eval`)")
    w.add_argument("--out", default=None, metavar="FILE", help="HTML file (default RUN/report.html)")
    w.add_argument("--worst", type=int, default=12, metavar="N", help="pairs in the gallery of the worst pairs")
    w.add_argument("--eval", action="append", default=[], metavar="FILE",
                   help="an evaluation written outside RUN (`relhead eval --out FILE`; repeatable)")
    w.set_defaults(func=cmd_report)
    return p


LIST_OPTIONS = ("--anchor-pose", "--anchor-box", "--query-box")  # comma-separated numbers, maybe negative


def _attach_lists(argv: list[str]) -> list[str]:
    """`--anchor-pose -34,-30,-12` as `--anchor-pose=-34,-30,-12`: argparse takes a value that starts with
    '-' (and is not one plain negative number) for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in LIST_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not argv[i + 1].startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # Ctrl-C: one line (what stopped, what is kept), as `train` stops
        said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "stopped by Ctrl-C (SIGINT)"
        print(f"relhead: {said}", file=sys.stderr)
        return 128 + signal.SIGINT


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_attach_lists(sys.argv[1:] if argv is None else list(argv)))
    from relhead.datasets.biwi import BiwiError
    from relhead.datasets.generate import DISK_FULL, DiskFull
    from relhead.datasets.manifest import CorpusMismatch
    from relhead.datasets.shards import CorruptShard

    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"relhead: config error: {exc}", file=sys.stderr)
        return 2
    except (CorpusMismatch, CorruptShard, BiwiError) as exc:
        print(f"relhead: {exc}", file=sys.stderr)
        return 2
    except DiskFull as exc:  # not bad input: the same command goes on once there is space
        print(f"relhead: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`relhead sweep NAME --dry-run | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        print(f"relhead: disk full ({exc.strerror}){f' writing {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
