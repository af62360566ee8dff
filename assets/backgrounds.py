"""Background photographs from a user folder, named by path inside it and content hash (never by host
path), like the user's HDRIs: two hosts holding the same files at different paths render the same
corpus. Nothing ships: relhead has no licence-free photographs to bundle."""

from __future__ import annotations

from functools import lru_cache

from relhead.assets.refs import AssetPool, folder_pool

BACKGROUND_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@lru_cache(maxsize=8)
def background_pool(folder: str | None) -> AssetPool:
    """The images under `folder` (recursively), hashed once per process; FileNotFoundError naming
    the config key when there is no such folder or no image in it."""
    return folder_pool(folder, "lighting.background_dir", BACKGROUND_SUFFIXES,
                       "lighting.image_background_fraction > 0 needs a folder of background images (a path on this host)")
