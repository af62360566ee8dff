"""Where on the face a detailed skin (config `skin.detail`) varies: per-vertex weights in [0, 1] laid
out on the 68 iBUG landmarks of a group's first posed head, so every head model that has landmarks
gets them (no UVs or vertex groups needed).

Two weights of three each, written as the head mesh's vertex attributes FACE_AREAS and FACE_LINES
(relhead.render.blender.materials reads them):

- FACE_AREAS: x the cheeks and nose tip (flush, blush), y the T-zone (forehead and the nose's bridge:
  oilier, glossier), z under the eyes (darker, bluish);
- FACE_LINES: x a band across the forehead (horizontal wrinkles), y beside the outer eye corners (crow's
  feet), z the nasolabial folds (nose wing to mouth corner) -- the age cues.

Each is an anisotropic Gaussian in the head frame's x-y plane (a frontal projection; x toward the image
right, y down), scaled by the outer eye corners' distance, and gated to the front of the head. Elementwise
numpy: the same weights on any host and thread count.
"""

from __future__ import annotations

import numpy as np

from relhead.assets.base import PosedHead
from relhead.exact import exp
from relhead.frames import head_frame

FACE_AREAS = "face_areas"
FACE_LINES = "face_lines"


def _gauss(p: np.ndarray, centre: np.ndarray, sx: float, sy: float) -> np.ndarray:
    return exp(-0.5 * (((p[:, 0] - centre[0]) / sx) ** 2 + ((p[:, 1] - centre[1]) / sy) ** 2))


def _segment(p: np.ndarray, a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian of the x-y distance to the segment a-b."""
    ab = b[:2] - a[:2]
    t = np.clip(((p[:, 0] - a[0]) * ab[0] + (p[:, 1] - a[1]) * ab[1]) / max(ab[0] ** 2 + ab[1] ** 2, 1e-12), 0, 1)
    dx, dy = p[:, 0] - (a[0] + t * ab[0]), p[:, 1] - (a[1] + t * ab[1])
    return exp(-0.5 * (dx * dx + dy * dy) / sigma ** 2)


def face_areas(posed: PosedHead) -> tuple[np.ndarray, np.ndarray]:
    """(FACE_AREAS, FACE_LINES) of the posed head's vertices: two (N, 3) float32 arrays."""
    v = head_frame(posed.vertices, posed)
    lm = head_frame(posed.landmarks, posed)
    s = float(np.hypot(*(lm[45, :2] - lm[36, :2])))  # outer eye corners' distance (~9-10 cm)
    eye_a, eye_b = lm[36:42].mean(0), lm[42:48].mean(0)
    nose, brows = lm[30], lm[17:27].mean(0)
    forehead = brows + np.array([0.0, -0.3 * s, 0.0])
    # the front of the head: within a third of s behind the landmarks' mean depth (z points into the head)
    front = np.clip(1.0 - (v[:, 2] - (lm[:, 2].mean() + 0.3 * s)) / (0.1 * s), 0.0, 1.0)
    cheek = [e + np.array([0.0, 0.7 * (nose[1] - e[1]), 0.0]) for e in (eye_a, eye_b)]
    flush = np.maximum.reduce([_gauss(v, cheek[0], 0.2 * s, 0.17 * s), _gauss(v, cheek[1], 0.2 * s, 0.17 * s),
                               _gauss(v, nose, 0.1 * s, 0.08 * s)])
    tzone = np.maximum(_gauss(v, forehead, 0.38 * s, 0.2 * s), _segment(v, lm[27], lm[30], 0.07 * s))
    under = np.maximum(_gauss(v, eye_a + np.array([0.0, 0.17 * s, 0.0]), 0.16 * s, 0.06 * s),
                       _gauss(v, eye_b + np.array([0.0, 0.17 * s, 0.0]), 0.16 * s, 0.06 * s))
    band = _gauss(v, forehead, 0.45 * s, 0.13 * s)
    crows = np.maximum(_gauss(v, lm[36] + np.array([-0.1 * s, 0.0, 0.0]), 0.06 * s, 0.08 * s),
                       _gauss(v, lm[45] + np.array([0.1 * s, 0.0, 0.0]), 0.06 * s, 0.08 * s))
    folds = np.maximum(_segment(v, lm[31] + np.array([-0.05 * s, 0.0, 0.0]), lm[48], 0.035 * s),
                       _segment(v, lm[35] + np.array([0.05 * s, 0.0, 0.0]), lm[54], 0.035 * s))
    areas = np.stack([flush, tzone, under], -1) * front[:, None]
    lines = np.stack([band, crows, folds], -1) * front[:, None]
    return areas.astype(np.float32), lines.astype(np.float32)
