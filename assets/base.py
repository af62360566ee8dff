"""The head-model interface every backend implements (Anny is the built-in one).

A backend turns plain, JSON-serialisable parameters into geometry:
    sample_identity(rng)            -> identity dict (shape, phenotype, ...)
    sample_expression(rng)          -> expression dict (facial action name -> weight)
    pose(identity, expressions, gazes, neck_rotations) -> PosedHead per view
The mesh topology (faces, part labels, landmark vertex indices) is fixed per backend, so the
renderer builds a scene once per group and only moves vertices between views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# Part labels of faces, used by the renderer to pick a material.
PART_SKIN, PART_EYE, PART_MOUTH = 0, 1, 2
PART_NAMES = {PART_SKIN: "skin", PART_EYE: "eye", PART_MOUTH: "mouth"}


@dataclass
class PosedHead:
    """One view's geometry, in the model's world frame (metres)."""

    vertices: np.ndarray  # (N, 3) float32
    T_world_head: np.ndarray  # (4, 4) head (skull) frame -> world, rigid
    extra: dict = field(default_factory=dict)


class HeadModel(Protocol):
    name: str
    faces: np.ndarray  # (F, 3) int32 triangles
    face_parts: np.ndarray  # (F,) int8, PART_* labels
    landmark_indices: np.ndarray  # (68,) vertex indices, iBUG-68 order
    vertex_attributes: dict  # name -> (N, k) float32 arrays rigid with the mesh (e.g. eye coordinates)

    def sample_identity(self, rng: np.random.Generator, cfg) -> dict: ...

    def sample_expression(self, rng: np.random.Generator, cfg) -> dict: ...

    def head_width(self, identity: dict) -> float: ...

    def pose(self, identity: dict, expressions: list[dict], gazes_deg: list, neck_rotations: list) -> list[PosedHead]: ...


_BACKENDS: dict[str, HeadModel] = {}


def get_head_model(name: str, **kwargs) -> HeadModel:
    """The backend called `name`, built once per process (model loading is the slow part)."""
    if name not in _BACKENDS:
        if name == "anny":
            from relhead.assets.anny_head import AnnyHead

            _BACKENDS[name] = AnnyHead(**kwargs)
        else:
            raise ValueError(f"head.model: unknown backend {name!r}; allowed: anny")
    return _BACKENDS[name]
