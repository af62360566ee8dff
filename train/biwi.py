"""`relhead eval --biwi DIR`: a run's model on the user's own copy of the BIWI Kinect Head Pose
database, in the relative protocol (docs/evaluation.md, "BIWI evaluation", is the citable description).

Per sequence (frames in frame-number order):
1. Every frame is run through MTCNN (relhead.train.detect: facenet-pytorch's weights and defaults),
   the largest face taken, and its box mapped to relhead's face box (detect.BOX_MAP); the model crops
   around that box exactly as it crops training and evaluation renders.
2. The anchor is the first frame with a detected face (frame 0 of a sequence whenever MTCNN finds
   it), with its ground-truth pose. Every other frame is a query.
3. A detected query: the model predicts R_rel from the (anchor, query) crops in the RGB camera; with
   rgb.cal's extrinsics it becomes E^T R_rel E in the depth camera, and the query's absolute rotation
   is R_q = R_rel R_a with the anchor's ground truth R_a (relhead.frames).
4. Errors: yaw, pitch and roll as the BIWI literature takes them (relhead.frames.biwi_euler, in
   the depth camera frame of the ground truth), absolute differences wrapped into [0, 180], their mean
   (`mae`), and the geodesic angle of R_q against the truth (`geodesic`), in degrees.
5. Frames where MTCNN finds no face are counted (`undetected`). The `detected` rows average over
   detected queries only, as the literature does with the frames its detector misses; the `all`
   rows score every query, an undetected one as predicting no motion from the anchor (R_q = R_a), so
   a detector's misses cost what they would in use.
Rows: `detected`, `all`, and `detected` by the query's true |yaw| (0-30, 30-60, 60+), overall and
per sequence. The anchor is not scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relhead.files import check_out_file, write_json_atomic
from relhead.frames import biwi_euler, relative_rgb_to_depth
from relhead.datasets.biwi import BiwiError, Sequence, read_biwi
from relhead.frames import geodesic_deg

YAW_BINS = ((0, 30), (30, 60), (60, 181))
METRICS = ("yaw", "pitch", "roll", "mae", "geodesic")


def angle_errors(R_pred, R_true) -> dict:
    d = np.abs((np.array(biwi_euler(R_pred)) - np.array(biwi_euler(R_true)) + 180.0) % 360.0 - 180.0)
    return {"yaw": float(d[0]), "pitch": float(d[1]), "roll": float(d[2]), "mae": float(d.mean()),
            "geodesic": geodesic_deg(R_pred, R_true)}


def summarise(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0, **{m: None for m in METRICS}}
    return {"n": len(rows), **{m: float(np.mean([r[m] for r in rows])) for m in METRICS}}


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise BiwiError(f"{path}: cannot read an image there ({type(exc).__name__})") from None


def _detect_all(seq: Sequence, detector) -> list[dict | None]:
    from relhead.train.detect import to_face_box

    out = []
    for f in seq.frames:
        rgb = _read_rgb(f.rgb)
        faces = detector(rgb)
        if faces:
            H, W = rgb.shape[:2]
            out.append({"box": to_face_box(faces[0].box, W, H), "mtcnn_box": list(faces[0].box),
                        "prob": faces[0].prob})
        else:
            out.append(None)
    return out


def evaluate_sequence(seq: Sequence, predictor, detector, progress=None) -> dict:
    dets = _detect_all(seq, detector)
    E = seq.calibration.E
    anchor = next((i for i, d in enumerate(dets) if d is not None), None)
    a_img = _read_rgb(seq.frames[anchor].rgb) if anchor is not None else None
    ref = seq.poses[anchor if anchor is not None else 0][0]
    rows = []
    for i, (frame, det) in enumerate(zip(seq.frames, dets)):
        if i == (anchor if anchor is not None else 0):
            continue
        R_true = seq.poses[i][0]
        row = {"frame": frame.number, "detected": det is not None, "true_yaw": biwi_euler(R_true)[0]}
        if det is not None:
            pred = predictor.predict(a_img, _read_rgb(frame.rgb), anchor_box=dets[anchor]["box"],
                                     query_box=det["box"])
            R_q = relative_rgb_to_depth(np.asarray(pred["R_rel"], float), E) @ ref
            row.update(box=det["box"], mtcnn_box=det["mtcnn_box"])
        else:
            R_q = ref  # no prediction: no motion from the anchor (scored in `all` only)
        row.update(angle_errors(R_q, R_true))
        rows.append(row)
        if progress:
            progress()
    return {"sequence": seq.name, "frames": len(seq.frames),
            "anchor": None if anchor is None else seq.frames[anchor].number,
            "anchor_box": None if anchor is None else dets[anchor]["box"],
            "undetected": sum(d is None for d in dets), "queries": rows}


def tables(queries: list[dict]) -> dict:
    det = [q for q in queries if q["detected"]]
    return {"detected": summarise(det), "all": summarise(queries),
            "detected_by_true_yaw": {(f"{lo}+" if hi > 180 else f"{lo}-{hi}"):
                                     summarise([q for q in det if lo <= abs(q["true_yaw"]) < hi]) for lo, hi in YAW_BINS}}


def evaluate_biwi(root: str | Path, predictor, detector=None, show_progress: bool = False) -> dict:
    """Every sequence under `root` (checked whole first); `detector(rgb)` -> faces, largest first
    (default MTCNN), `predictor.predict(anchor, query, anchor_box=, query_box=)` -> {"R_rel": ...}."""
    seqs = read_biwi(root)
    if detector is None:
        from relhead.train.detect import load_mtcnn

        detector = load_mtcnn().detect
    from tqdm import tqdm

    bar = tqdm(total=sum(len(s.frames) - 1 for s in seqs), unit="frame", disable=None if show_progress else True,
               desc="BIWI")  # None: shown on a terminal only
    per_seq = [evaluate_sequence(s, predictor, detector, progress=lambda: bar.update()) for s in seqs]
    bar.close()
    frames = sum(s["frames"] for s in per_seq)
    undetected = sum(s["undetected"] for s in per_seq)
    if undetected == frames:
        raise BiwiError(f"{root}: the detector (MTCNN) found no face in any of the {frames} frames")
    queries = [q for s in per_seq for q in s["queries"]]
    return {"sequences": len(per_seq), "frames": frames, "undetected": undetected,
            "detection_rate": 1 - undetected / frames, "queries": len(queries), **tables(queries),
            "per_sequence": [{k: v for k, v in s.items() if k != "queries"} | tables(s["queries"]) for s in per_seq],
            "per_frame": [{"sequence": s["sequence"], **q} for s in per_seq for q in s["queries"]]}


def format_biwi(res: dict) -> str:
    lines = [f"{'BIWI':<16}{'n':>7}" + "".join(f"{m:>10}" for m in METRICS)]
    rows = [("detected", res["detected"]), ("all", res["all"])]
    rows += [(f"|yaw| {k}", v) for k, v in res["detected_by_true_yaw"].items()]
    for name, s in rows:
        lines.append(f"{name:<16}{s['n']:>7}" + "".join(f"{'-':>10}" if s[m] is None else f"{s[m]:>10.2f}"
                                                        for m in METRICS))
    return "\n".join(lines)


def write_json(path: Path, obj: dict) -> None:
    """Written whole or not at all (its missing folders made)."""
    write_json_atomic(path, obj, fsync=False, parents=True)


def evaluate_biwi_run(run: str | Path, root: str | Path, out: str | Path | None = None, device: str = "auto") -> dict:
    """`relhead eval --checkpoint RUN --biwi DIR`: writes RUN/eval_biwi.json (or `out`), prints the table."""
    from relhead.train.predict import Predictor

    out = check_out_file(out if out else Path(run) / "eval_biwi.json", "--out", "eval_biwi.json")
    read_biwi(root)  # every file checked before the model is loaded
    predictor = Predictor.from_checkpoint(run, device=device)
    res = evaluate_biwi(root, predictor, show_progress=True)
    res = {"run": str(run), "biwi": str(root), "protocol": __doc__.split("Per sequence", 1)[1].strip(), **res}
    write_json(out, res)
    print(f"{run}: {predictor.cfg.mode} model on BIWI {root}: {res['sequences']} sequences, {res['frames']} frames, "
          f"{res['undetected']} without a detected face ({100 * res['detection_rate']:.1f}% detected) -> {out}")
    print(format_biwi(res))
    return res
