"""FLAME backend for licence holders: your own FLAME 2020/2023 model file and 68-point landmark
embedding, read without chumpy and posed by linear blend skinning in numpy.

Nothing licensed ships with relhead or is downloaded: `head.model_path`, `head.landmarks_path` and
the optional `head.masks_path` are host paths, hashed into a corpus' manifest (`assets.head`) and
null in its config.

What this module takes from FLAME's published file layout (see docs/scene.md, "FLAME"):
- model keys `v_template` (N, 3), `shapedirs` (N, 3, 400): 300 shape then 100 expression
  components, `posedirs` (N, 3, 36), `J_regressor` (5, N) (often a scipy sparse matrix),
  `kintree_table` (2, 5), `weights` (N, 5), `f` (F, 3); N = 5023 and F = 9976 for FLAME 2020/2023;
- joints 0 global (neck base), 1 neck (carries the skull), 2 jaw, 3 left eye, 4 right eye, with
  parents -1, 0, 1, 1, 1; pose correctives are `posedirs` applied to (R_j - I), j = 1..4, flattened;
- world frame in metres, Y up, the face toward +Z, X toward the subject's left (image right).

Head frame (relhead.frames): attached to the neck joint; origin at the midpoint of the two eye
joints (eyeball centres) of the identity's neutral rest shape; at rest x = +X, y = -Y, z = -Z.

Parameters: identity `shape` = the first shape coefficients; the spec's expression dict holds
`exp000`..`exp099` (expression coefficients, absent = 0) and `jawOpen` in [0, 1] (the jaw turned
jawOpen x JAW_OPEN_MAX_DEG about the head's x axis, opening the mouth). Gaze turns the eye joints.
Faces are labelled PART_EYE on the eyeballs (FLAME_masks.pkl's `left_eyeball`/`right_eyeball` when
given, else the vertices skinned mostly to the eye joints) and PART_SKIN elsewhere; FLAME has no
mouth interior, so no PART_MOUTH.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator
from scipy.spatial.transform import Rotation

from relhead.assets.base import PART_EYE, PART_SKIN, HeadCfg, Identity, PosedHead, fixed_threads
from relhead.assets.refs import file_ref
from relhead.configbase import ConfigError, Range
from relhead.exact import mm, orthonormalised
from relhead.frames import euler_to_matrix

NUM_SHAPE, NUM_EXPRESSION, NUM_JOINTS = 300, 100, 5
PARENTS = (-1, 0, 1, 1, 1)  # global, neck, jaw, left eye, right eye
NECK, JAW, LEFT_EYE, RIGHT_EYE = 1, 2, 3, 4
JAW_OPEN_MAX_DEG = 30.0  # jawOpen = 1
EXPRESSION_NAMES = tuple(f"exp{i:03d}" for i in range(NUM_EXPRESSION))

# Head frame axes at rest, as columns in FLAME's world frame (Y up, face toward +Z).
R_WORLD_HEAD_REST = np.diag([1.0, -1.0, -1.0])

MODEL_SUFFIXES, LANDMARK_SUFFIXES, MASK_SUFFIXES = (".pkl", ".npz"), (".npy", ".npz", ".pkl"), (".pkl", ".npz")


class FlameFileError(ConfigError):
    """A FLAME file that cannot be used, as one line naming the config key and the file."""


class FlameCfg(HeadCfg):
    """`head:` keys of the FLAME backend (`head.expression.neutral_fraction` and `per_view` apply;
    `max_actions` and `weight` do not: FLAME expressions are dense coefficients)."""

    model: Literal["flame"] = "flame"
    model_path: str | None = Field(None, description="your FLAME 2020/2023 model, .pkl or .npz (a host path)")
    landmarks_path: str | None = Field(None, description="68-point landmark embedding, .npy/.npz/.pkl (a host path)")
    masks_path: str | None = Field(None, description="optional FLAME_masks.pkl; only left_eyeball and right_eyeball "
                                                     "are read (a host path)")
    shape_components: int = Field(100, ge=0, le=NUM_SHAPE,
                                  description="shape coefficients each identity draws (the rest are 0)")
    shape_sigma: float = Field(1.0, ge=0.0, le=5.0, description="they are drawn from N(0, sigma^2)")
    expression_components: int = Field(50, ge=0, le=NUM_EXPRESSION, description="the same for expression coefficients")
    expression_sigma: float = Field(0.5, ge=0.0, le=5.0, description="they are drawn from N(0, sigma^2)")
    jaw_open: Range(0.0, 1.0) = Field((0.0, 0.4), description="jawOpen of an expression (1: the jaw turned 30 degrees, "
                                                              "JAW_OPEN_MAX_DEG)")

    @field_validator("model_path", "landmarks_path", "masks_path")
    @classmethod
    def _suffix(cls, v, info):
        allowed = {"model_path": MODEL_SUFFIXES, "landmarks_path": LANDMARK_SUFFIXES,
                   "masks_path": MASK_SUFFIXES}[info.field_name]
        if v is not None and Path(v).suffix.lower() not in allowed:
            raise ValueError(f"expected a file ending in {' or '.join(allowed)}")
        return v

    def files(self) -> dict[str, str | None]:
        out = {"model_path": self.model_path, "landmarks_path": self.landmarks_path}
        if self.masks_path:
            out["masks_path"] = self.masks_path
        return out

    def build_settings(self) -> dict:
        """The files' content (sha256): one built model per set of files, wherever they live."""
        out = {}
        for key in ("model_path", "landmarks_path", "masks_path"):
            path = getattr(self, key)
            try:
                out[key] = file_ref(path).sha256 if path else None
            except FileNotFoundError as exc:
                raise FlameFileError(f"head.{key}: {exc}") from None
        return out


class FlameIdentity(Identity):
    """FLAME's identity: its first len(shape) shape coefficients (the rest are 0)."""

    shape: list[float] = Field(default_factory=list, max_length=NUM_SHAPE)


# ------------------------------------------------------------------------------------------------
# Reading the files: a restricted unpickler. Only numpy arrays, scipy sparse matrices and chumpy
# objects (as inert stand-ins turned into arrays afterwards) are built; any other global is refused.
class _StandIn:
    """The pickled state of a chumpy object or a scipy sparse matrix, kept as data."""

    source = ""

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"_state": state}


class _Chumpy(_StandIn):
    pass


class _Sparse(_StandIn):
    pass


class _Opaque(_StandIn):
    """A torch object in a landmark file (e.g. DECA's contour tables): never built, never used."""

    def __init__(self, *args, **kwargs):
        pass


def _opaque(*args, **kwargs):
    return _Opaque()


def _reconstructor(cls, base, state):
    """copy_reg._reconstructor of Python 2 pickles, for stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)) or base is not object or state is not None:
        raise pickle.UnpicklingError(f"refused: reconstructing {getattr(cls, '__name__', cls)!r}")
    return cls.__new__(cls)


def _latin1(text, encoding="utf-8"):
    """_codecs.encode as Python 3 writes bytes into protocol-2 pickles (latin-1 only)."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise pickle.UnpicklingError("refused: _codecs.encode other than of a string to latin-1")
    return text.encode("latin-1")


def _numpy_globals() -> dict:
    """ndarray, dtype and the array/scalar rebuilders, under numpy 1's and numpy 2's module names."""
    try:
        from numpy._core import multiarray  # numpy 2 (numpy 1.26 has the alias too)
    except ImportError:
        from numpy.core import multiarray
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(module, "_reconstruct")], out[(module, "scalar")] = multiarray._reconstruct, multiarray.scalar
    return out


_SAFE = {
    **{(m, n): v for m in ("__builtin__", "builtins") for n, v in (("set", set), ("frozenset", frozenset),
                                                                   ("object", object))},
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _latin1,
    ("collections", "OrderedDict"): dict,
}
_SPARSE_NAMES = {"csc_matrix": "csc", "csr_matrix": "csr", "coo_matrix": "coo",
                 "csc_array": "csc", "csr_array": "csr", "coo_array": "coo"}
_STAND_INS: dict[tuple[str, str], type] = {}


def _stand_in(base: type, module: str, name: str) -> type:
    key = (module, name)
    if key not in _STAND_INS:
        _STAND_INS[key] = type(name, (base,), {"source": f"{module}.{name}"})
    return _STAND_INS[key]


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, allow_torch: bool = False):
        super().__init__(f, encoding="latin1")  # Python 2 pickles (FLAME's are)
        self.allow_torch = allow_torch
        self.safe = {**_SAFE, **_numpy_globals()}

    def find_class(self, module, name):
        if (module, name) in self.safe:
            return self.safe[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in(_Chumpy, module, name)
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            return _stand_in(_Sparse, module, name)
        if self.allow_torch and (module == "torch" or module.startswith("torch.")):
            return _opaque
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy, scipy.sparse and chumpy data)")


def _value(obj):
    """A loaded object with its stand-ins turned into numpy arrays (dict values walked)."""
    if isinstance(obj, _Chumpy):
        return _chumpy_array(obj)
    if isinstance(obj, _Sparse):
        return _sparse_array(obj)
    if isinstance(obj, dict):
        return {k: _value(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        return _value(obj.item())
    return obj


def _chumpy_array(obj: _Chumpy) -> np.ndarray:
    """The value of the chumpy objects model files hold: Ch (its `x`), and Select, reshape and
    transpose of another chumpy value."""
    s, kind = obj.state, obj.source.rsplit(".", 1)[-1]
    if kind == "Ch" and "x" in s:
        return np.asarray(_value(s["x"]), dtype=float)
    if "a" in s:
        a = np.asarray(_value(s["a"]))
        if kind == "Select":
            r = a.ravel()[np.asarray(s["idxs"]).ravel()]
            return r.reshape(s["preferred_shape"]) if s.get("preferred_shape") is not None else r
        if kind in ("Reshape", "reshape") and "newshape" in s:
            return a.reshape(s["newshape"])
        if kind == "transpose":
            return np.transpose(a, s.get("axes"))
    raise pickle.UnpicklingError(f"unsupported chumpy object {obj.source} (keys {sorted(s)})")


def _sparse_array(obj: _Sparse) -> np.ndarray:
    import scipy.sparse as sp

    s, fmt = obj.state, _SPARSE_NAMES[obj.source.rsplit(".", 1)[-1]]
    shape = tuple(s.get("_shape") or s.get("shape") or ())
    if fmt == "coo":
        row, col = s["coords"] if "coords" in s else (s["row"], s["col"])
        return sp.coo_matrix((s["data"], (row, col)), shape=shape).toarray()
    cls = sp.csc_matrix if fmt == "csc" else sp.csr_matrix
    return cls((s["data"], s["indices"], s["indptr"]), shape=shape).toarray()


def _load_npy(f, allow_torch: bool):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version} is not supported")
    if dtype.hasobject:  # a pickled object (e.g. DECA's dict of embeddings): through the same allowlist
        return _Unpickler(f, allow_torch).load()
    f.seek(0)
    return np.load(f, allow_pickle=False)


def read_file(path: str | Path, key: str, allow_torch: bool = False) -> dict:
    """A FLAME-family file (.pkl, .npz, or .npy holding a dict) as {name: value}, with chumpy and
    scipy objects turned into numpy arrays; FlameFileError (one line) when it cannot be read."""
    path = Path(path).expanduser()
    where = f"head.{key} ({path.name})"
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".npz":
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                obj = {k: z[k] for k in z.files}
        elif path.suffix.lower() == ".npy":
            obj = _load_npy(io.BytesIO(data), allow_torch)
        else:
            obj = _Unpickler(io.BytesIO(data), allow_torch).load()
        obj = _value(obj)
    except OSError as exc:
        raise FlameFileError(f"{where}: cannot read ({exc.strerror or exc})") from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, EOFError, AttributeError, IndexError,
            RecursionError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FlameFileError(f"{where}: not a usable file: {why}") from None
    if not isinstance(obj, dict):
        raise FlameFileError(f"{where}: expected a mapping of named arrays, got {type(obj).__name__}")
    return obj


def _check_shape(where: str, name: str, a, expected: tuple, note: str = "") -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != len(expected) or any(e is not None and s != e for s, e in zip(a.shape, expected)):
        want = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise FlameFileError(f"{where}: {name} has shape {a.shape}, expected {want}{note}")
    return a


def load_model(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a FLAME model file, checked: v_template, shapedirs, posedirs, J_regressor,
    weights, f, and parents (from kintree_table)."""
    raw = read_file(path, "model_path")
    where = f"head.model_path ({Path(path).name})"
    missing = [k for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")
               if k not in raw]
    if missing:
        raise FlameFileError(f"{where}: not a FLAME model: no {', '.join(missing)}")
    try:
        v = _check_shape(where, "v_template", raw["v_template"], (None, 3)).astype(float)
        n = len(v)
        m = {
            "v_template": v,
            "shapedirs": _check_shape(where, "shapedirs", raw["shapedirs"], (n, 3, NUM_SHAPE + NUM_EXPRESSION),
                                      " (300 shape then 100 expression components)").astype(float),
            "posedirs": _check_shape(where, "posedirs", raw["posedirs"], (n, 3, 9 * (NUM_JOINTS - 1))).astype(float),
            "J_regressor": _check_shape(where, "J_regressor", raw["J_regressor"], (NUM_JOINTS, n)).astype(float),
            "weights": _check_shape(where, "weights", raw["weights"], (n, NUM_JOINTS)).astype(float),
            "f": _check_shape(where, "f", raw["f"], (None, 3)).astype(np.int64),
        }
        kintree = _check_shape(where, "kintree_table", raw["kintree_table"], (2, NUM_JOINTS)).astype(np.int64)
    except FlameFileError:
        raise
    except (TypeError, ValueError) as exc:
        raise FlameFileError(f"{where}: not numeric arrays ({exc})") from None
    parents = kintree[0].copy()
    parents[0] = -1  # stored as 2**32 - 1
    if tuple(int(p) for p in parents) != PARENTS:
        raise FlameFileError(f"{where}: kintree_table parents {tuple(int(p) for p in parents)}, "
                             f"expected FLAME's {PARENTS}")
    if m["f"].min() < 0 or m["f"].max() >= n:
        raise FlameFileError(f"{where}: f indexes vertices outside 0..{n - 1}")
    m["parents"] = parents
    return m


def load_landmarks(path: str | Path, num_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """(68,) triangle indices and (68, 3) barycentric weights from a DECA-style
    landmark_embedding.npy (`full_lmk_faces_idx`, `full_lmk_bary_coords`) or a .npz/.pkl with
    `lmk_face_idx` and `lmk_b_coords` (e.g. flame_static_embedding_68.pkl)."""
    raw = read_file(path, "landmarks_path", allow_torch=True)
    where = f"head.landmarks_path ({Path(path).name})"
    for fk, bk in (("full_lmk_faces_idx", "full_lmk_bary_coords"), ("lmk_face_idx", "lmk_b_coords")):
        if fk in raw and bk in raw:
            faces, bary = np.asarray(raw[fk]), np.asarray(raw[bk])
            break
    else:
        raise FlameFileError(f"{where}: no landmark embedding: expected full_lmk_faces_idx + full_lmk_bary_coords "
                             "or lmk_face_idx + lmk_b_coords")
    if faces.dtype == object or bary.dtype == object:
        raise FlameFileError(f"{where}: {fk}/{bk} are not plain arrays")
    faces = faces.reshape(-1).astype(np.int64)
    bary = (bary.reshape(-1, 3) if bary.size % 3 == 0 else bary).astype(float)
    if len(faces) != 68 or bary.shape != (68, 3):
        hint = " (FLAME's 51-point static embedding: use a 68-point one, e.g. flame_static_embedding_68.pkl or " \
               "DECA's landmark_embedding.npy)" if len(faces) == 51 else ""
        raise FlameFileError(f"{where}: {len(faces)} landmarks, expected the 68 iBUG points{hint}")
    if faces.min() < 0 or faces.max() >= num_faces:
        raise FlameFileError(f"{where}: triangle indices outside the model's 0..{num_faces - 1}")
    return faces, bary


def load_eyeballs(path: str | Path, num_vertices: int) -> list[np.ndarray]:
    """[left, right] eyeball vertex indices from FLAME_masks.pkl."""
    raw = read_file(path, "masks_path")
    where = f"head.masks_path ({Path(path).name})"
    try:
        eyes = [np.asarray(raw[k], dtype=np.int64).reshape(-1) for k in ("left_eyeball", "right_eyeball")]
    except (KeyError, TypeError, ValueError):
        raise FlameFileError(f"{where}: expected FLAME_masks.pkl's left_eyeball and right_eyeball "
                             "vertex lists") from None
    if any(len(e) == 0 or e.min() < 0 or e.max() >= num_vertices for e in eyes):
        raise FlameFileError(f"{where}: eyeball vertex indices outside the model's 0..{num_vertices - 1}")
    return eyes


# ------------------------------------------------------------------------------------------------
class FlameHead:
    name = "flame"
    world_up = (0.0, 1.0, 0.0)  # FLAME's world is y-up: the HDRI's sky goes there (relhead.frames.world_map_euler)

    @classmethod
    def from_config(cls, cfg: FlameCfg) -> "FlameHead":
        for key in ("model_path", "landmarks_path"):
            if not getattr(cfg, key):
                raise FlameFileError(f"head.{key}: head.model flame needs this file (a path on this host)")
        return cls(cfg.model_path, cfg.landmarks_path, cfg.masks_path)

    def __init__(self, model_path, landmarks_path, masks_path=None):
        m = load_model(model_path)
        self.v_template = m["v_template"]
        n = len(self.v_template)
        self.shape_dirs = m["shapedirs"][:, :, :NUM_SHAPE].reshape(n * 3, NUM_SHAPE)
        self.expression_dirs = m["shapedirs"][:, :, NUM_SHAPE:].reshape(n * 3, NUM_EXPRESSION)
        self.pose_dirs = m["posedirs"].reshape(n * 3, -1)
        self.J_regressor, self.weights, self.parents = m["J_regressor"], m["weights"], m["parents"]
        self.faces = m["f"].astype(np.int32)

        if masks_path:
            self.eye_vertices = load_eyeballs(masks_path, n)
        else:  # the eyeballs are what the eye joints carry
            owner = self.weights.argmax(1)
            mostly = self.weights.max(1) > 0.5
            self.eye_vertices = [np.flatnonzero(mostly & (owner == j)) for j in (LEFT_EYE, RIGHT_EYE)]
        is_eye = np.zeros(n, bool)
        eye_coords = np.zeros((n, 3), np.float32)
        for vids in self.eye_vertices:
            if len(vids) < 4:
                continue
            is_eye[vids] = True
            # Unit eyeball coordinates in FLAME's axes: x image right, y up, +z out of the pupil.
            local = self.v_template[vids] - self.v_template[vids].mean(0)
            eye_coords[vids] = local / np.linalg.norm(local, axis=1).max()
        self.face_parts = np.where(is_eye[self.faces].all(1), PART_EYE, PART_SKIN).astype(np.int8)
        self.vertex_attributes = {"eye_coords": eye_coords}
        self.landmark_faces, self.landmark_bary = load_landmarks(landmarks_path, len(self.faces))

    # ---------------------------------------------------------------- sampling (numpy only)
    def sample_identity(self, rng: np.random.Generator, cfg: FlameCfg) -> FlameIdentity:
        return FlameIdentity(shape=[float(x) for x in rng.normal(0.0, cfg.shape_sigma, cfg.shape_components)])

    def sample_expression(self, rng: np.random.Generator, cfg: FlameCfg) -> dict[str, float]:
        if rng.random() < cfg.expression.neutral_fraction:
            return {}
        coeffs = rng.normal(0.0, cfg.expression_sigma, cfg.expression_components)
        out = {name: float(c) for name, c in zip(EXPRESSION_NAMES, coeffs)}
        out["jawOpen"] = float(rng.uniform(*cfg.jaw_open))
        return out

    # ---------------------------------------------------------------- geometry
    def _rest(self, identity: FlameIdentity) -> tuple[np.ndarray, np.ndarray]:
        """The identity's neutral rest vertices and joints (cached for the last identity)."""
        key = identity.model_dump_json()
        if getattr(self, "_rest_key", None) != key:
            with fixed_threads():  # cached: its bits must not depend on the first caller's thread count
                betas = np.asarray(identity.shape, float)
                v = self.v_template + mm(self.shape_dirs[:, :len(betas)], betas).reshape(-1, 3)
                self._rest_key, self._rest_out = key, (v, mm(self.J_regressor, v))
        return self._rest_out

    def head_width(self, identity: FlameIdentity) -> float:
        """Ear-to-ear width of the sampled head at rest (metres), for framing the camera."""
        return float(np.ptp(self._rest(identity)[0][:, 0]))

    @staticmethod
    def _expression(expression: dict) -> tuple[np.ndarray, float]:
        psi = np.zeros(NUM_EXPRESSION)
        jaw = 0.0
        for name, w in expression.items():
            if name == "jawOpen":
                jaw = float(w)
            elif name in EXPRESSION_NAMES:
                psi[int(name[3:])] = w
            else:
                raise ValueError(f"FLAME expression parameter {name!r}: expected exp000..exp099 or jawOpen")
        return psi, jaw

    def _skinning(self, R: np.ndarray, J: np.ndarray) -> np.ndarray:
        """(5, 4, 4) transforms taking each joint's rest neighbourhood to its posed place."""
        G = np.zeros((NUM_JOINTS, 4, 4))
        for j, p in enumerate(self.parents):
            local = np.eye(4)
            local[:3, :3], local[:3, 3] = R[j], J[j] - (J[p] if p >= 0 else 0.0)
            G[j] = local if p < 0 else mm(G[p], local)
        A = G.copy()
        A[:, :3, 3] -= np.einsum("jab,jb->ja", G[:, :3, :3], J)
        return A

    def pose(self, identity: FlameIdentity, expressions, gazes_deg, neck_rotations) -> list[PosedHead]:
        """Pose V views. neck_rotations are 3x3 rotations in head-frame axes (the neck joint turns
        the skull by them); gazes_deg are (yaw, pitch) of both eyes in the head frame."""
        W = R_WORLD_HEAD_REST
        v_rest, J_rest = self._rest(identity)
        T_rest = np.eye(4)
        T_rest[:3, :3], T_rest[:3, 3] = W, 0.5 * (J_rest[LEFT_EYE] + J_rest[RIGHT_EYE])
        posed = []
        for expression, (gyaw, gpitch), Rn in zip(expressions, gazes_deg, neck_rotations):
            psi, jaw = self._expression(expression)
            v = v_rest + mm(self.expression_dirs, psi).reshape(-1, 3)
            J = mm(self.J_regressor, v)
            R = np.empty((NUM_JOINTS, 3, 3))
            R[0] = np.eye(3)
            R[NECK] = mm(mm(W, Rn), W.T)
            R[JAW] = Rotation.from_rotvec([np.radians(jaw * JAW_OPEN_MAX_DEG), 0.0, 0.0]).as_matrix()
            R[LEFT_EYE] = R[RIGHT_EYE] = mm(mm(W, euler_to_matrix(gyaw, gpitch, 0.0)), W.T)
            v = v + mm(self.pose_dirs, (R[1:] - np.eye(3)).ravel()).reshape(-1, 3)
            A = self._skinning(R, J)
            Tv = np.einsum("nj,jab->nab", self.weights, A[:, :3])
            verts = (np.einsum("nab,nb->na", Tv[:, :, :3], v) + Tv[:, :, 3]).astype(np.float32)
            T = mm(A[NECK], T_rest)
            T[:3, :3] = orthonormalised(T[:3, :3])  # the skinning's round-off
            tri = verts[self.faces[self.landmark_faces]].astype(float)
            posed.append(PosedHead(vertices=verts, T_world_head=T,
                                   landmarks=np.einsum("lk,lkd->ld", self.landmark_bary, tri)))
        return posed
