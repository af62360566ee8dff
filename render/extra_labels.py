"""The extra ground truth of config `labels:` that follows from the posed geometry alone (no bpy):
the 68 landmarks in 3D, each eye's gaze, the dense landmarks and the posed mesh; and the face-part
class table of the segmentation (the renderer's ray casts give the per-pixel labels).

Dense landmarks are a fixed set of DENSE_COUNT skin vertices of a head backend's mesh, the same
indices for every subject: farthest-point samples (in the head frame) of the skin vertices above
the chin (face, ears, crown and back of the head), started at the vertex nearest the nose tip
(iBUG 30), on the backend's canonical subject (its identity drawn from seed 0 under its default
config, neutral, eyes ahead, neck straight). Everything here is float64 numpy without threads, so
one process and N workers compute the same bytes.
"""

from __future__ import annotations

import numpy as np

from relhead.assets.base import PART_EYE, PART_MOUTH, PART_SKIN, PART_TEETH, PART_TONGUE, PosedHead
from relhead.exact import lstsq, mm, norm
from relhead.frames import head_frame, project

DENSE_COUNT = 300  # dense landmarks per view
MARGIN_M = 0.003  # eye and lip regions reach this far past their landmark contours (the contour is their edge)

# Face-part classes of the segmentation (uint8 PNG values). FaceSynthetics' 19 classes keep their
# numbers (0-18: glasses are the frames, headwear is a hat, apart from hair; relhead has no facewear
# yet); relhead adds 19-22: teeth, tongue, lashes (none yet: painted or sub-pixel strands) and tinted
# lenses apart from the frames (clear lenses show the eyes behind them).
SEG_CLASSES: dict[int, str] = {
    0: "background", 1: "skin", 2: "nose", 3: "right_eye", 4: "left_eye", 5: "right_brow", 6: "left_brow",
    7: "right_ear", 8: "left_ear", 9: "mouth_interior", 10: "top_lip", 11: "bottom_lip", 12: "neck", 13: "hair",
    14: "beard", 15: "clothing", 16: "glasses", 17: "headwear", 18: "facewear",
    19: "teeth", 20: "tongue", 21: "lashes", 22: "lenses",
}
SEG = {name: k for k, name in SEG_CLASSES.items()}
# Parts whose surface the ray casts see as a proxy (ribbons of some strands): their hits count only
# where the render's mask has the subject.
PROXY_CLASSES = (SEG["hair"], SEG["beard"])


_DENSE: dict[int, tuple[object, np.ndarray]] = {}
_CANONICAL: dict[int, tuple[object, PosedHead]] = {}


def canonical_head(head_model) -> PosedHead:
    """The backend's canonical subject: identity from seed 0 under its default config, neutral, eyes
    ahead, neck straight (computed once per process and model)."""
    from relhead.assets import registry

    hit = _CANONICAL.get(id(head_model))
    if hit is not None and hit[0] is head_model:
        return hit[1]
    identity = head_model.sample_identity(np.random.default_rng(0), registry.backend(head_model.name).config())
    posed = head_model.pose(identity, [{}], [(0.0, 0.0)], [np.eye(3)])[0]
    _CANONICAL[id(head_model)] = (head_model, posed)
    return posed


def dense_indices(head_model, count: int = DENSE_COUNT) -> np.ndarray:
    """The backend's dense landmark vertex indices (int64, `count`), the same for every subject."""
    hit = _DENSE.get(id(head_model))
    if hit is not None and hit[0] is head_model and len(hit[1]) == count:
        return hit[1]
    p = canonical_head(head_model)
    X = head_frame(p.vertices, p)
    lm = head_frame(p.landmarks, p)
    skin = np.zeros(len(X), bool)
    skin[np.asarray(head_model.faces)[np.asarray(head_model.face_parts) == PART_SKIN].ravel()] = True
    cand = np.flatnonzero(skin & (X[:, 1] <= lm[8, 1] + 0.01))  # above the chin (+1 cm): the head, not the body
    P = X[cand]
    chosen = [int(np.argmin(((P - lm[30]) ** 2).sum(1)))]
    d = ((P - P[chosen[0]]) ** 2).sum(1)
    for _ in range(min(count, len(cand)) - 1):
        k = int(np.argmax(d))
        chosen.append(k)
        d = np.minimum(d, ((P - P[k]) ** 2).sum(1))
    out = cand[np.array(chosen)]
    _DENSE[id(head_model)] = (head_model, out)
    return out


def eye_vertices(head_model) -> tuple[np.ndarray, np.ndarray]:
    """(right eye, left eye) vertex indices: eyeball vertices with eye coordinates, split by the
    head frame's x (the subject's right eye is at x < 0) on the canonical subject."""
    ec = np.asarray(head_model.vertex_attributes["eye_coords"], float)
    eye = np.zeros(len(ec), bool)
    eye[np.asarray(head_model.faces)[np.asarray(head_model.face_parts) == PART_EYE].ravel()] = True
    eye &= np.linalg.norm(ec, axis=1) > 0.5
    ids = np.flatnonzero(eye)
    p = canonical_head(head_model)
    x = head_frame(p.vertices[ids], p)[:, 0]
    return ids[x < 0], ids[x >= 0]


def gaze_head(posed: PosedHead, eye_coords: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """One eye's gaze in the head frame: the posed direction of its eye coordinates' +z (out of the
    pupil), from the affine fit of the posed eyeball vertices to their eye coordinates (exact for a
    rigid eyeball however its vertices are spread)."""
    X = head_frame(posed.vertices[ids], posed)
    E = np.c_[np.asarray(eye_coords, float)[ids], np.ones(len(ids))]
    A = lstsq(E, X)  # X = E @ A: rows 0-2 the eye axes' images
    g = A[2]
    return g / norm(g)


class ExtraLabeler:
    """The geometric extra labels of one head backend (indices computed once)."""

    def __init__(self, head_model, cfg) -> None:
        self.cfg = cfg
        self.hm = head_model
        self.dense = dense_indices(head_model) if cfg.dense_landmarks else None
        if cfg.gaze:
            self.eyes = eye_vertices(head_model)
            self.eye_coords = np.asarray(head_model.vertex_attributes["eye_coords"], float)

    def view(self, posed: PosedHead, K, R, t) -> dict:
        """{name: array} of one view: `landmarks_3d` (68, 3), `gaze` (2, 3) right then left eye,
        `dense_uv` (D, 2), `dense_3d` (D, 3), `mesh_vertices` (N, 3) float32 in the head frame."""
        out = {}
        if self.cfg.landmarks_3d:
            out["landmarks_3d"] = mm(head_frame(posed.landmarks, posed), R.T) + t
        if self.cfg.gaze:
            out["gaze"] = np.stack([mm(R, gaze_head(posed, self.eye_coords, ids)) for ids in self.eyes])
        if self.dense is not None:
            X = head_frame(posed.vertices[self.dense], posed)
            out["dense_uv"], _ = project(K, R, t, X)
            out["dense_3d"] = mm(X, R.T) + t
        if self.cfg.mesh:
            out["mesh_vertices"] = head_frame(posed.vertices, posed).astype(np.float32)
        return out


class HeadSegmenter:
    """The segmentation class of points on the head mesh, from the triangle they lie on and where they
    are in the head frame. Parts map directly (eyes split by side, mouth interior, teeth, tongue); skin
    splits into eyes, lips (top/bottom), mouth interior, nose, brows, ears and neck by regions derived
    from the view's iBUG landmarks (head frame, seen from the front, so they follow the expression), and by the
    backend's BROWS and skin-region attributes where it has them."""

    def __init__(self, head_model, posed: PosedHead) -> None:
        faces = np.asarray(head_model.faces)
        self.parts = np.asarray(head_model.face_parts)
        self.lm = head_frame(posed.landmarks, posed)
        brows = head_model.vertex_attributes.get("brows")
        self.brow_faces = None
        if brows is not None:
            b = np.asarray(brows, float)[faces].mean(1)
            self.brow_faces = (np.abs(b[:, 0]) < 1.0) & (b[:, 2] > 0.5)
        regions = head_model.vertex_attributes.get("skin_regions")
        self.ear_faces = None if regions is None else np.asarray(regions, float)[faces].mean(1)[:, 1] > 0.5

    def classes(self, tri: np.ndarray, P: np.ndarray) -> np.ndarray:
        """(n,) uint8 classes of head-frame points `P` (n, 3) on head triangles `tri` (n,)."""
        lm, parts = self.lm, self.parts[tri]
        xy = P[:, :2]
        cls = np.full(len(tri), SEG["skin"], np.uint8)
        cls[parts == PART_MOUTH] = SEG["mouth_interior"]
        cls[parts == PART_TEETH] = SEG["teeth"]
        cls[parts == PART_TONGUE] = SEG["tongue"]
        eye = parts == PART_EYE
        cls[eye & (P[:, 0] < 0)] = SEG["right_eye"]
        cls[eye & (P[:, 0] >= 0)] = SEG["left_eye"]
        skin = parts == PART_SKIN
        front = skin & (P[:, 2] < lm[:, 2].max() + 0.01)  # the face side, not the back of the head

        def near(poly):
            return _inside(xy, poly) | (_edge_distance(xy, poly) < MARGIN_M)

        # Lips: inside the outer lip contour (48-59) or within MARGIN_M of it, but not deeper than
        # MARGIN_M inside the inner contour (60-67), the mouth's opening.
        inner = lm[60:68, :2]
        deep_inner = _inside(xy, inner) & (_edge_distance(xy, inner) > MARGIN_M)
        lips = front & near(lm[48:60, :2]) & ~deep_inner
        mouth_line = np.interp(P[:, 0], *_sorted_xy(np.r_[lm[[48, 54]], lm[60:68]][:, :2]))
        cls[lips & (P[:, 1] < mouth_line)] = SEG["top_lip"]
        cls[lips & (P[:, 1] >= mouth_line)] = SEG["bottom_lip"]
        cls[front & deep_inner] = SEG["mouth_interior"]
        # Eyes: the skin inside each eye contour (36-41, 42-47) or within MARGIN_M of it (the opening).
        for lo, name in ((36, "right_eye"), (42, "left_eye")):
            cls[front & ~lips & near(lm[lo:lo + 6, :2])] = SEG[name]
        free = skin & (cls == SEG["skin"])
        # Nose: the hull of the bridge and nostrils (27-35), 4 mm wider at the nostrils.
        nose = np.r_[lm[27:36, :2], lm[[31, 35], :2] + [[-0.004, 0.0], [0.004, 0.0]]]
        cls[free & front & _inside(xy, _hull(nose))] = SEG["nose"]
        free = skin & (cls == SEG["skin"])
        # Brows: the backend's BROWS attribute, else within 5 mm of the brow landmarks' lines (17-21, 22-26).
        if self.brow_faces is not None:
            brow = self.brow_faces[tri]
        else:
            brow = np.zeros(len(tri), bool)
            for lo in (17, 22):
                brow |= _edge_distance(xy, lm[lo:lo + 5, :2], closed=False) < 0.005
        brow &= free & front
        cls[brow & (P[:, 0] < 0)] = SEG["right_brow"]
        cls[brow & (P[:, 0] >= 0)] = SEG["left_brow"]
        free = skin & (cls == SEG["skin"])
        # Ears: the backend's ear region, else lateral skin beyond the jaw's ends (0, 16) between the
        # brows' and the jaw ends' heights, within 3 cm of their depth.
        if self.ear_faces is not None:
            ear = self.ear_faces[tri]
        else:
            ear = ((np.abs(P[:, 0]) > np.abs(lm[[0, 16], 0]).max() + 0.004) & (P[:, 1] > lm[19, 1])
                   & (P[:, 1] < lm[2, 1]) & (np.abs(P[:, 2] - lm[[0, 16], 2].mean()) < 0.03))
        ear &= free
        cls[ear & (P[:, 0] < 0)] = SEG["right_ear"]
        cls[ear & (P[:, 0] >= 0)] = SEG["left_ear"]
        # Neck: skin below the chin (8) by more than 5 mm.
        cls[skin & (cls == SEG["skin"]) & (P[:, 1] > lm[8, 1] + 0.005)] = SEG["neck"]
        return cls


def _edge_distance(P: np.ndarray, poly: np.ndarray, closed: bool = True) -> np.ndarray:
    """Distance of 2-D points to a closed polygon's edges (or an open polyline's segments)."""
    a, b = (poly, np.roll(poly, -1, 0)) if closed else (poly[:-1], poly[1:])
    ab = b - a
    t = np.clip(((P[:, None] - a[None]) * ab[None]).sum(2) / np.maximum((ab ** 2).sum(1), 1e-18)[None], 0, 1)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(P[:, None] - closest, axis=2).min(1)


def _sorted_xy(pts: np.ndarray):
    o = np.argsort(pts[:, 0])
    return pts[o, 0], pts[o, 1]


def _inside(P: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Whether 2-D points lie inside a polygon (even-odd rule)."""
    x, y = P[:, 0:1], P[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / (y1 - y0) + x0)
    return cross.sum(1) % 2 == 1


def _hull(pts: np.ndarray) -> np.ndarray:
    """Convex hull of 2-D points, counter-clockwise (monotone chain)."""
    p = sorted(map(tuple, pts))

    def half(seq):
        h = []
        for q in seq:
            while len(h) >= 2 and (h[-1][0] - h[-2][0]) * (q[1] - h[-2][1]) - (h[-1][1] - h[-2][1]) * (q[0] - h[-2][0]) <= 0:
                h.pop()
            h.append(q)
        return h

    lo, hi = half(p), half(p[::-1])
    return np.array(lo[:-1] + hi[:-1])
