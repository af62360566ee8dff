"""Background photographs from a user folder, named by path inside it and content hash (never by host
path), like the user's HDRIs: two hosts holding the same files at different paths render the same
corpus. Nothing ships: relhead has no licence-free photographs to bundle."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from relhead.assets.refs import AssetPool, scan_folder

BACKGROUND_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@lru_cache(maxsize=8)
def background_pool(folder: str | None) -> AssetPool:
    """The images under `folder` (recursively), hashed once per process; FileNotFoundError naming
    the config key when there is no such folder or no image in it."""
    if not folder:
        raise FileNotFoundError("lighting.background_dir: lighting.image_background_fraction > 0 needs a folder "
                                "of background images (a path on this host)")
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"lighting.background_dir: {d} is not a folder")
    found = scan_folder(d, "user", BACKGROUND_SUFFIXES)
    if not found:
        raise FileNotFoundError(f"lighting.background_dir: no {'/'.join(BACKGROUND_SUFFIXES)} files under {d}")
    return AssetPool(refs=tuple(r for r, _ in found.values()), files=tuple(p for _, p in found.values()))
