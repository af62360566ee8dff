"""Command line: `relhead render`, `relhead preview`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relhead.config import ConfigError, resolve


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


def cmd_render(args) -> int:
    cfg = resolve(args.pipeline, args.set, args.config)
    shards = _shard_range(args.shards, cfg.shards)
    from relhead.assets.hdri import list_hdris
    from relhead.datasets.generate import generate

    try:
        list_hdris(cfg.lighting.hdris, cfg.lighting.hdri_dir)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None

    out = Path(args.out) / cfg.name
    generate(cfg, out, shards=shards)
    return 0


def cmd_preview(args) -> int:
    from relhead.datasets.preview import contact_sheet

    root = Path(args.dir)
    shards = sorted(root.glob("shard-*.tar")) or sorted(root.glob("*/shard-*.tar"))
    if not shards:
        raise ConfigError(f"{root}: no shard-*.tar files here or one folder below")
    out = Path(args.out) if args.out else (shards[0].parent / "preview.png")
    contact_sheet(shards, out, max_groups=args.groups)
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relhead", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="render a pipeline's corpus into shards")
    r.add_argument("--pipeline", required=True, help="a name from pipelines.yaml")
    r.add_argument("--out", required=True, help="output folder; the corpus goes to OUT/PIPELINE/")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    r.add_argument("--config", default=None, help="pipelines file (default: ./pipelines.yaml, else the repository's)")
    r.add_argument("--shards", default=None, metavar="START:STOP", help="render only these shards")
    r.set_defaults(func=cmd_render)
    v = sub.add_parser("preview", help="contact sheet PNG of a corpus with its ground truth drawn")
    v.add_argument("dir", help="a corpus folder (or its parent)")
    v.add_argument("--out", default=None, help="PNG path (default: DIR/preview.png)")
    v.add_argument("--groups", type=int, default=8, help="rows (groups) to show")
    v.set_defaults(func=cmd_preview)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"relhead: config error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from relhead.datasets.generate import CorpusMismatch

        if isinstance(exc, CorpusMismatch):
            print(f"relhead: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
