"""Head-model backends behind one interface, HDRIs and landmark maps (pure Python, no bpy)."""

from relhead.assets.base import HeadModel, PosedHead, get_head_model

__all__ = ["HeadModel", "PosedHead", "get_head_model"]
