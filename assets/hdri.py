"""HDRI environments: bpy's bundled ones and a user folder's, named by source, name and content hash
(never by host path), resolved to this host's files once per process (found without importing bpy).

A scene spec records an HDRI as an AssetRef, e.g. `bundled:forest.exr` or `user:studio/loft.hdr`
with the file's sha256, so two hosts that hold the same files at different paths sample and render
the same corpus.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from relhead.assets.refs import AssetPool, AssetRef, scan_folder

HDRI_SUFFIXES = (".exr", ".hdr")


def bundled_hdri_dir() -> Path:
    """bpy's studiolights/world folder, found from the installed distribution (bpy is not imported)."""
    try:
        root = Path(distribution("bpy").locate_file("bpy"))
    except PackageNotFoundError:
        raise RuntimeError("bpy is not installed: pip install bpy==5.0.1") from None
    found = sorted(root.glob("*/datafiles/studiolights/world"))
    if not found:
        raise RuntimeError(f"no studiolights/world folder under {root}")
    return found[-1]


@lru_cache(maxsize=16)
def hdri_pool(hdris: tuple[str, ...] | str = "all", user_dir: str | None = None) -> AssetPool:
    """The pool for `lighting.hdris` / `lighting.hdri_dir`: 'all' (bundled and the user folder's),
    'bundled', 'user', or a tuple of names (a bundled name like 'forest' or 'forest.exr', or a path
    inside the user folder, with or without its suffix). Raises FileNotFoundError naming what is
    missing. Cached per process, so files are hashed once."""
    bundled = scan_folder(bundled_hdri_dir(), "bundled", HDRI_SUFFIXES)
    user: dict[str, tuple[AssetRef, Path]] = {}
    if user_dir:
        d = Path(user_dir).expanduser()
        if not d.is_dir():
            raise FileNotFoundError(f"lighting.hdri_dir: {d} is not a folder")
        user = scan_folder(d, "user", HDRI_SUFFIXES)
    if hdris == "all":
        chosen = list(bundled.values()) + list(user.values())
    elif hdris == "bundled":
        chosen = list(bundled.values())
    elif hdris == "user":
        if not user:
            raise FileNotFoundError(f"lighting.hdris: 'user' needs a lighting.hdri_dir with .exr/.hdr files (got {user_dir})")
        chosen = list(user.values())
    else:
        chosen = [_find(n, bundled, user) for n in hdris]
    if not chosen:
        raise FileNotFoundError("lighting: no HDRI files to sample from")
    return AssetPool(refs=tuple(r for r, _ in chosen), files=tuple(p for _, p in chosen))


def _find(name: str, bundled: dict, user: dict) -> tuple[AssetRef, Path]:
    for pool in (user, bundled):  # a user file of the same name wins
        for key in (name, *(name + s for s in HDRI_SUFFIXES)):
            if key in pool:
                return pool[key]
    known = sorted({Path(k).stem for k in bundled}) + sorted(user)
    raise FileNotFoundError(f"lighting.hdris: {name!r} not found; known: {', '.join(known)}")
