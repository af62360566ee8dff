"""The head-model interface every backend implements, and the config and identity types it extends.

A backend turns its own typed parameters into geometry (pure numpy/torch, no bpy):
    sample_identity(rng, cfg)       -> its Identity subclass (shape, phenotype, ...)
    sample_expression(rng, cfg)     -> {expression parameter name: weight}
    head_width(identity)            -> ear-to-ear width at rest, metres (frames the camera)
    pose(identity, expressions, gazes_deg, neck_rotations) -> one PosedHead per view
Its mesh topology (faces, part labels, per-vertex attributes) is fixed, so the renderer moves
vertices between views; its landmarks come from the posed head (vertex picks or barycentric points).
Each backend owns a config section (a :class:`HeadCfg` subclass, chosen by `head.model`) and an
:class:`Identity` subclass; `relhead.assets.registry` maps names to them.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np
from pydantic import Field

from relhead.configbase import Range, Strict

# Part labels of faces; the renderer gives each part its material (material slot = part label).
PART_SKIN, PART_EYE, PART_MOUTH, PART_TEETH, PART_TONGUE = 0, 1, 2, 3, 4
# Optional vertex attribute (N, 3) in [0, 1]: how much a vertex is lips, ears, eyelids (skin tints).
SKIN_REGIONS = "skin_regions"
# Optional vertex attribute (N, 3): where the eyebrows grow. x: signed height from the brow's centre
# line in units of its half-height (so |x| < 1 is inside a brow of thickness 1), y: position along
# the brow (0 inner end, 1 tail), z: 1 on the brows' part of the face, 0 elsewhere.
BROWS = "brows"
# Optional vertex attribute (N, 3): where scalp hair grows. x: height above the hairline in cm
# (negative below it), y: azimuth around the head / 180 degrees (0 front, +-1 back), z: 0 on the ears.
SCALP = "scalp"
# Optional vertex attribute (N, 3): where clothes can be worn (relhead.render.parts.garment). x: depth below
# the neck's base in cm (negative up the neck), y: azimuth around the neck / 180 degrees (0 front,
# +-1 back), z: how much a vertex belongs to the body rather than the head (1 torso and neck, 0 head),
# smooth. A backend without it cannot dress its subjects.
TORSO = "torso"


# The thread count of a group's float arithmetic outside Cycles (the head model, the parts' geometry,
# the labels). Reductions split over threads sum in another order and round differently, and
# processes get different counts (joblib's workers and Dask's run with fewer BLAS/OpenMP threads than
# a lone process), so the count is fixed: a corpus' bytes then do not depend on who made it.
ARITHMETIC_THREADS = 1


def same_bits_on_every_cpu() -> None:
    """Ask MKL (torch's BLAS on x86) for the same bits on every CPU: it picks a code path per CPU, and
    AVX-512's and AVX2's round differently in the last bits (a head model's vertices, so a corpus'
    labels, would depend on the machine that rendered them). Its conditional numerical reproducibility
    mode (MKL_CBWR=COMPATIBLE) holds from MKL's first call in a process, so a head model calls this
    before its first torch arithmetic, and so does every group's arithmetic (fixed_threads): in a render
    process, that is before MKL's first call. A user's own MKL_CBWR is kept. Not for training processes:
    the mode gives up MKL's fastest kernels."""
    os.environ.setdefault("MKL_CBWR", "COMPATIBLE")


@contextmanager
def fixed_threads(n: int = ARITHMETIC_THREADS) -> Iterator[None]:
    """Run the enclosed numpy (BLAS, OpenMP) and torch arithmetic on `n` threads, then restore the
    process' counts. torch is limited only when something already imported it. MKL is asked for the
    same bits on every CPU (same_bits_on_every_cpu)."""
    from threadpoolctl import threadpool_limits

    same_bits_on_every_cpu()

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch else None
    try:
        with threadpool_limits(limits=n):
            if torch:
                torch.set_num_threads(n)
            yield
    finally:
        if torch:
            torch.set_num_threads(before)


class ExpressionCfg(Strict):
    neutral_fraction: float = Field(0.3, ge=0.0, le=1.0, description="share of neutral expressions")
    max_actions: int = Field(3, ge=1, le=52, description="an expression mixes 1 to this many named facial actions")
    weight: Range(0.0, 1.0) = Field((0.2, 0.9), description="each action's weight")
    per_view: bool = Field(False, description="a new expression per view instead of one per group")


class HeadCfg(Strict):
    """The `head:` keys every backend shares; a backend subclasses it with its own keys and fixes
    `model` to its name (a Literal)."""

    model: str = Field("anny", description="the head-model backend (relhead.assets.registry)")
    expression: ExpressionCfg = ExpressionCfg()
    gaze_yaw_deg: Range(-40.0, 40.0) = Field((-20.0, 20.0), description="eye rotation in the head frame")
    gaze_pitch_deg: Range(-30.0, 30.0) = Field((-15.0, 15.0), description="eye rotation in the head frame")

    def build_settings(self) -> dict:
        """The keys that change the built model (files, resolution), as JSON data: backends are
        cached per process by (model, build settings). Sampling keys are passed per call."""
        return {}

    def files(self) -> dict[str, str | None]:
        """{key: host path} of the files this backend reads (a licensed model, its landmark
        embedding). They are host keys: the corpus records them by name and sha256 (its manifest's
        `assets.head`) and its config holds them as null, so any host makes the same bytes."""
        return {}


class Identity(Strict):
    """A sampled subject's shape parameters; each backend subclasses it with typed fields."""

    def grows_facial_hair(self) -> bool:
        """Whether `hair.facial_hair` applies to this subject (a backend that models age and sex
        says; by default every subject)."""
        return True

    def age(self) -> float | None:
        """The subject's age in years, where the backend models it (`hair.greying` needs it)."""
        return None


@dataclass(frozen=True)
class PosedHead:
    """One view's geometry, in the model's world frame (metres)."""

    vertices: np.ndarray  # (N, 3) float32
    T_world_head: np.ndarray  # (4, 4) head (skull) frame -> world, rigid
    landmarks: np.ndarray  # (68, 3) float64, iBUG-68 order, on the posed surface


def sample_sparse_expression(rng: np.random.Generator, names: list[str], cfg: ExpressionCfg) -> dict[str, float]:
    """Neutral with probability `neutral_fraction`, else 1..max_actions of `names` at weights in
    `cfg.weight`: the expression sampler of backends whose expressions are named actions."""
    if rng.random() < cfg.neutral_fraction:
        return {}
    k = int(rng.integers(1, min(cfg.max_actions, len(names)) + 1))
    chosen = rng.choice(names, size=k, replace=False)
    return {str(n): float(rng.uniform(*cfg.weight)) for n in chosen}


class HeadModel(Protocol):
    name: str
    faces: np.ndarray  # (F, 3) int32 triangles
    face_parts: np.ndarray  # (F,) int8, PART_* labels
    vertex_attributes: dict  # name -> (N, k) float32 arrays rigid with the mesh (eye_coords, SKIN_REGIONS, BROWS, SCALP, TORSO)
    # Optional: face_uvs, (F, 3, 2) float32 texture coordinates of each face corner on the model's UV
    # atlas (V up), for skin albedo textures (config skin.albedo_dir). Anny has them.
    # Optional: world_up, the up direction of the model's world frame (3 floats), where the HDRI's sky goes
    # (relhead.frames.world_map_euler); +z when absent (Anny's). FLAME's world is y-up.
    # Optional: blink_actions, the names of the expression parameters that close the eyelids (weight 1:
    # closed), with which temporal clips blink (relhead.render.clip). Anny: eyeBlinkLeft, eyeBlinkRight.

    def sample_identity(self, rng: np.random.Generator, cfg: HeadCfg) -> Identity: ...

    def sample_expression(self, rng: np.random.Generator, cfg: HeadCfg) -> dict[str, float]: ...

    def head_width(self, identity: Identity) -> float: ...

    def pose(self, identity: Identity, expressions: list[dict], gazes_deg: list,
             neck_rotations: list) -> list[PosedHead]: ...
