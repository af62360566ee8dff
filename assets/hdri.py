"""HDRI environments: the ones bundled with bpy plus any user folder (found without importing bpy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

HDRI_SUFFIXES = (".exr", ".hdr")


def bundled_hdri_dir() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise RuntimeError("bpy is not installed: pip install bpy==5.0.1")
    found = sorted(Path(spec.origin).parent.glob("*/datafiles/studiolights/world"))
    if not found:
        raise RuntimeError(f"no studiolights/world folder under {Path(spec.origin).parent}")
    return found[-1]


def list_hdris(names: list[str] | str = "bundled", user_dir: str | None = None) -> list[Path]:
    """HDRI files to sample from: 'bundled' (bpy's), or a list of names/paths; plus user_dir's."""
    pool: dict[str, Path] = {p.stem: p for p in sorted(bundled_hdri_dir().iterdir()) if p.suffix in HDRI_SUFFIXES}
    if user_dir:
        d = Path(user_dir).expanduser()
        if not d.is_dir():
            raise FileNotFoundError(f"lighting.hdri_dir: {d} is not a folder")
        pool.update({p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in HDRI_SUFFIXES})
    if names == "bundled":
        chosen = list(pool.values())
    else:
        chosen = []
        for n in names:
            p = Path(n).expanduser()
            if p.suffix.lower() in HDRI_SUFFIXES and p.exists():
                chosen.append(p)
            elif n in pool:
                chosen.append(pool[n])
            else:
                raise FileNotFoundError(f"lighting.hdris: {n!r} not found; known: {', '.join(sorted(pool))}")
    if not chosen:
        raise FileNotFoundError("lighting: no HDRI files to sample from")
    return chosen
