"""From a config to rendered, labelled views, in three layers by what they depend on:

- the typed scene spec (spec.py), its sampling (sampling.py), the view geometry (views.py) and the
  labels (labels.py): plain data and numpy;
- parts/: the scene parts' geometry (hair, garments, hats, glasses, the surfaces they keep off):
  numpy and scipy;
- blender/: the Blender scene that draws them; the only folder that imports bpy.

group.py renders one group through them (it imports blender/ only when called).
"""

import sys as _sys
from pathlib import Path as _Path


def _drop_inherited_blender_paths() -> None:
    """Importing bpy puts Blender's `scripts/startup` and `scripts/modules` first on sys.path, and
    `scripts/modules` holds a pure-Python `bpy` package. A process spawned by one that had imported
    bpy (joblib/loky, multiprocessing, Dask workers) inherits that sys.path, so its own `import bpy`
    would find the scripts' package and fail with "No module named '_bpy'". Until bpy is imported
    here, drop those entries; importing bpy puts them back."""
    if "bpy" in _sys.modules:
        return
    _sys.path[:] = [p for p in _sys.path if not ("bpy" in _Path(p).parts and "scripts" in _Path(p).parts)]


_drop_inherited_blender_paths()
