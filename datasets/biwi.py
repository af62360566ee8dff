"""The BIWI Kinect Head Pose layout: read a user's copy, and write one (tests render sequences into it).

    DIR/faces_0/NN/              (or DIR/hpdb/NN/, DIR/NN/, or DIR itself one sequence)
        rgb.cal                  RGB intrinsics, distortion, extrinsics w.r.t. the depth camera, size
        depth.cal                the same for the depth camera (written, not read)
        frame_XXXXX_rgb.png      640 x 480 colour frame
        frame_XXXXX_pose.txt     3 rows of the rotation, then the head centre (mm), depth camera frame

A `.cal` file is whitespace-separated numbers: three rows of K, one row of distortion coefficients,
three rows of the rotation E and one row of the translation e (mm) of X_rgb = E X_depth + e, then a
row "width height"; the dataset separates these blocks by blank lines, and the reader skips any.
`relhead.frames` (its BIWI section) says what the numbers mean. Frame numbers need not be contiguous (BIWI's are
not). Everything is checked when a sequence is read, before anything is evaluated: a missing or
malformed file raises BiwiError naming it. Images are read only when used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relhead.files import write_atomic

_FRAME = re.compile(r"^frame_(\d+)_rgb\.png$")


class BiwiError(Exception):
    """`<file>: <problem>` for a BIWI folder that cannot be evaluated."""


@dataclass(frozen=True)
class Calibration:
    K: np.ndarray  # 3x3, pixels
    dist: np.ndarray  # distortion coefficients as written (BIWI: four zeros)
    E: np.ndarray  # 3x3: X_rgb = E X_depth + e
    e_mm: np.ndarray  # (3,)
    size: tuple[int, int] | None  # (width, height)


@dataclass(frozen=True)
class Frame:
    number: int
    rgb: Path
    pose: Path


@dataclass(frozen=True)
class Sequence:
    name: str
    folder: Path
    calibration: Calibration
    frames: list[Frame]
    poses: list[tuple[np.ndarray, np.ndarray]]  # per frame (R 3x3 head -> depth camera, head centre mm)


def _rows(path: Path) -> list[list[float]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BiwiError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BiwiError(f"{path}: cannot read it ({type(exc).__name__})") from None
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append([float(v) for v in line.split()])
            except ValueError:
                raise BiwiError(f"{path}: line {i} is not numbers: {line.strip()[:40]!r}") from None
    return rows


def _rotation(rows: list[list[float]], path: Path, what: str) -> np.ndarray:
    if any(len(r) != 3 for r in rows):
        raise BiwiError(f"{path}: {what}: expected 3 rows of 3 numbers")
    R = np.array(rows)
    if not np.all(np.isfinite(R)) or np.abs(R @ R.T - np.eye(3)).max() > 1e-3 or abs(np.linalg.det(R) - 1) > 1e-3:
        raise BiwiError(f"{path}: {what} is not a rotation (R R^T = I and det R = 1 within 1e-3)")
    U, _, Vt = np.linalg.svd(R)  # the nearest rotation: the files round to 6 significant digits
    return U @ Vt


def read_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    rows = _rows(path)
    if len(rows) not in (8, 9):
        raise BiwiError(f"{path}: expected K (3 rows), distortion (1), rotation (3), translation (1) and "
                        f"optionally the image size (1); found {len(rows)} rows of numbers")
    K = np.array(rows[:3]) if all(len(r) == 3 for r in rows[:3]) else None
    if K is None or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
        raise BiwiError(f"{path}: the first 3 rows must be an intrinsic matrix [[fx 0 cx] [0 fy cy] [0 0 1]], fx, fy > 0")
    E = _rotation(rows[4:7], path, "rows 5-7 (extrinsic rotation)")
    if len(rows[7]) != 3 or not np.all(np.isfinite(rows[7])):
        raise BiwiError(f"{path}: row 8 (extrinsic translation, mm) must be 3 numbers")
    size = None
    if len(rows) == 9:
        if len(rows[8]) != 2 or min(rows[8]) <= 0 or any(v != int(v) for v in rows[8]):
            raise BiwiError(f"{path}: row 9 (image size) must be two positive integers, width height")
        size = (int(rows[8][0]), int(rows[8][1]))
    return Calibration(K=K, dist=np.array(rows[3]), E=E, e_mm=np.array(rows[7]), size=size)


def read_pose(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(R, head centre in mm) of a frame_XXXXX_pose.txt."""
    path = Path(path)
    rows = _rows(path)
    if len(rows) != 4:
        raise BiwiError(f"{path}: expected 3 rows of rotation and 1 row of head centre, found {len(rows)} rows")
    R = _rotation(rows[:3], path, "rows 1-3 (rotation)")
    if len(rows[3]) != 3 or not np.all(np.isfinite(rows[3])) or rows[3][2] <= 0:
        raise BiwiError(f"{path}: row 4 (head centre, mm) must be 3 numbers with z > 0")
    return R, np.array(rows[3])


def read_sequence(folder: str | Path) -> Sequence:
    folder = Path(folder)
    cal = read_calibration(folder / "rgb.cal")
    frames = []
    for p in sorted(folder.iterdir()):
        m = _FRAME.match(p.name)
        if m:
            frames.append(Frame(int(m.group(1)), p, folder / f"frame_{m.group(1)}_pose.txt"))
    frames.sort(key=lambda f: f.number)
    if len(frames) < 2:
        raise BiwiError(f"{folder}: {len(frames)} frame(s) (frame_XXXXX_rgb.png); a sequence needs an anchor "
                        "and at least one query")
    return Sequence(folder.name, folder, cal, frames, [read_pose(f.pose) for f in frames])


def sequence_folders(root: str | Path) -> list[Path]:
    """The sequence folders under a BIWI root: DIR/faces_0/*, DIR/hpdb/*, DIR/* holding rgb.cal, or DIR."""
    root = Path(root)
    if not root.is_dir():
        raise BiwiError(f"{root}: not a folder")
    if (root / "rgb.cal").exists():
        return [root]
    for base in (root / "faces_0", root / "hpdb", root):
        if base.is_dir():
            seqs = sorted(d for d in base.iterdir() if d.is_dir() and (
                (d / "rgb.cal").exists() or any(_FRAME.match(p.name) for p in d.iterdir())))
            if seqs:
                return seqs
    raise BiwiError(f"{root}: no BIWI sequences (folders with rgb.cal and frame_XXXXX_rgb.png) in it, "
                    "in faces_0/ or in hpdb/")


def read_biwi(root: str | Path) -> list[Sequence]:
    """Every sequence under `root`, all files checked (BiwiError on the first problem)."""
    return [read_sequence(f) for f in sequence_folders(root)]


# -------------------------------------------------------------------------------------------- writing
def _fmt(row) -> str:
    return "".join(f"{float(v):g} " for v in row)  # BIWI writes 6 significant digits, a trailing space


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, data)


def calibration_text(K, E, e_mm, size: tuple[int, int], dist=(0, 0, 0, 0)) -> str:
    blocks = ["\n".join(_fmt(r) for r in np.asarray(K, float)), _fmt(dist),
              "\n".join(_fmt(r) for r in np.asarray(E, float)), _fmt(e_mm), f"{int(size[0])} {int(size[1])}"]
    return "\n\n".join(blocks) + "\n"


def pose_text(R, centre_mm) -> str:
    return "\n".join(_fmt(r) for r in np.asarray(R, float)) + "\n\n" + _fmt(centre_mm) + "\n"


def write_sequence(folder: str | Path, K, E, e_mm, frames: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
                   K_depth=None) -> Path:
    """Write a sequence: `frames` is [(number, rgb uint8 HxWx3, R head -> depth camera, head centre mm)].
    The depth camera gets K_depth (default: K) and the identity extrinsics, as BIWI's depth.cal has."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    H, W = frames[0][1].shape[:2]
    for number, rgb, R, c in frames:
        png = folder / f"frame_{number:05d}_rgb.png"
        Image.fromarray(np.asarray(rgb, np.uint8)).save(png)
        _write_atomic(folder / f"frame_{number:05d}_pose.txt", pose_text(R, c).encode())
    _write_atomic(folder / "depth.cal", calibration_text(K if K_depth is None else K_depth, np.eye(3), np.zeros(3),
                                                          (W, H)).encode())
    _write_atomic(folder / "rgb.cal", calibration_text(K, E, e_mm, (W, H)).encode())
    return folder
