"""Verify a corpus: files against the manifest, and every group's ground truth against its ranges.

Problems are lines `<shard file>: <problem>` (or `manifest.json: ...`); the training reader raises
the same lines for hash problems (both call manifest.file_problem) and for members that are not
regular files (shards.member_problem).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from relhead.configbase import ConfigError
from relhead.datasets.lease import lease_path
from relhead.datasets.manifest import FORMAT, MANIFEST, file_problem, read_manifest, read_record, record_path, shard_groups, shard_name
from relhead.datasets.sample import Group
from relhead.datasets.shards import CorruptShard, group_key, member_problem, read_shard
from relhead.frames import geodesic_deg, matrix_to_euler

TOL = 1e-6  # metadata is float64 JSON; anything looser than this is a bug, not rounding


def check_view(v: dict, i: int, W: int, H: int) -> list[str]:
    out = []
    K = np.asarray(v["K"], float)
    if K.shape != (3, 3) or not (K[0, 0] > 0 and K[1, 1] > 0) or K[0, 1] != 0 or np.abs(K[2] - [0, 0, 1]).max() > 0:
        out.append(f"K is not an upper-triangular pinhole matrix with positive focal lengths: {K.tolist()}")
    elif not (0 < K[0, 2] < W and 0 < K[1, 2] < H):
        out.append(f"principal point ({K[0, 2]:.1f}, {K[1, 2]:.1f}) outside the {W}x{H} image")
    R, t = np.asarray(v["R"], float), np.asarray(v["t"], float)
    if R.shape != (3, 3) or np.abs(R @ R.T - np.eye(3)).max() > TOL or abs(np.linalg.det(R) - 1) > TOL:
        out.append("R is not a rotation (orthonormal, det 1)")
    elif not (np.isfinite(t).all() and t.shape == (3,) and t[2] > 0):
        out.append(f"t {t.tolist()} is not a point in front of the camera")
    else:
        e = v["euler_deg"]
        if np.abs(np.subtract(matrix_to_euler(R), [e["yaw"], e["pitch"], e["roll"]])).max() > 1e-4:
            out.append("euler_deg disagrees with R")
    lm, vis = np.asarray(v["landmarks"], float), np.asarray(v["landmarks_visible"], bool)
    if lm.shape != (68, 2) or vis.shape != (68,) or not np.isfinite(lm).all():
        out.append(f"landmarks: expected 68x2 finite points and 68 flags, got {lm.shape} and {vis.shape}")
    elif vis.any() and not ((lm[vis] >= 0) & (lm[vis] < [W, H])).all():
        out.append("a visible landmark lies outside the image")
    x0, y0, x1, y1 = v["face_box"]
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        out.append(f"face_box {v['face_box']} is empty or outside the {W}x{H} image")
    return [f"view {i}: {p}" for p in out]


def check_labels(g: Group, i: int, v: dict, want, W: int, H: int) -> list[str]:
    """Problems of view i's `labels:` extras against the config's switches `want` (LabelsCfg): each
    switched-on label present with its shape, dtype and range, each switched-off one absent."""
    out = []
    keys = {"depth": "depth_file", "normals": "normals_file", "segmentation": "seg_file", "mesh": "mesh_file",
            "landmarks_3d": "landmarks_3d", "gaze": "gaze", "dense_landmarks": "dense"}
    for label, key in keys.items():
        if getattr(want, label) != (key in v):
            out.append(f"{label}: {'missing' if getattr(want, label) else 'present'}, the config's labels.{label} is "
                       f"{str(getattr(want, label)).lower()}")
    if out:
        return [f"view {i}: {p}" for p in out]
    mask = None
    try:
        mask = g.mask(i)
    except Exception:  # reported by check_group
        pass
    K = np.asarray(v["K"], float)
    if want.depth:
        try:
            with Image.open(io.BytesIO(g.files[v["depth_file"]])) as img:
                ok = img.mode in ("I;16", "I;16B", "I") and img.size == (W, H)
            z = g.depth(i)
            if not ok:
                out.append(f"depth: {v['depth_file']} is not a {W}x{H} 16-bit PNG")
            elif mask is not None and (z[mask == 0] > 0).any():
                out.append(f"depth: {int((z[mask == 0] > 0).sum())} pixels outside the mask have a depth")
        except Exception as exc:
            out.append(f"depth: {v['depth_file']} unreadable ({type(exc).__name__})")
    if want.normals:
        try:
            n = np.load(io.BytesIO(g.files[v["normals_file"]]), allow_pickle=False)
            if n.shape != (H, W, 3) or n.dtype != np.float16:
                out.append(f"normals: {n.shape} {n.dtype}, expected ({H}, {W}, 3) float16")
            else:
                norm = np.linalg.norm(n.astype(np.float32), axis=2)
                if not (np.isfinite(norm).all() and ((norm == 0) | (np.abs(norm - 1) < 3e-3)).all()):
                    out.append("normals: a vector is neither unit nor 0")
        except Exception as exc:
            out.append(f"normals: {v['normals_file']} unreadable ({type(exc).__name__})")
    if want.segmentation:
        from relhead.render.extra_labels import SEG_CLASSES

        try:
            seg = g.segmentation(i)
            if seg.shape != (H, W):
                out.append(f"segmentation: {seg.shape[1]}x{seg.shape[0]} pixels, expected {W}x{H}")
            elif not set(np.unique(seg).tolist()) <= set(SEG_CLASSES):
                out.append(f"segmentation: classes {sorted(set(np.unique(seg).tolist()) - set(SEG_CLASSES))} not in the table")
            elif mask is not None and ((seg > 0) & (mask == 0)).any():
                out.append("segmentation: a class outside the mask")
        except Exception as exc:
            out.append(f"segmentation: {v['seg_file']} unreadable ({type(exc).__name__})")
    if want.landmarks_3d:
        X = np.asarray(v["landmarks_3d"], float)
        if X.shape != (68, 3) or not np.isfinite(X).all() or (X[:, 2] <= 0).any():
            out.append(f"landmarks_3d: expected 68 finite points in front of the camera, got {X.shape}")
        elif np.abs(X[:, :2] / X[:, 2:] @ K[:2, :2].T + K[:2, 2] - np.asarray(v["landmarks"], float)).max() > 1e-4:
            out.append("landmarks_3d do not project onto the landmarks")
    if want.gaze:
        for eye in ("right", "left"):
            d = np.asarray(v["gaze"].get(eye, []), float)
            if d.shape != (3,) or abs(np.linalg.norm(d) - 1) > TOL:
                out.append(f"gaze {eye}: not a unit 3-vector")
    if want.dense_landmarks:
        d = v["dense"]
        uv, X, vis = (np.asarray(d.get(k, []), float) for k in ("uv", "xyz", "visible"))
        n = len(g.meta.get("dense_indices", []))
        if n == 0 or uv.shape != (n, 2) or X.shape != (n, 3) or vis.shape != (n,) or not np.isfinite(X).all():
            out.append(f"dense: expected {n} points (meta dense_indices) with uv, xyz and visible")
        elif (X[:, 2] <= 0).any() or np.abs(X[:, :2] / X[:, 2:] @ K[:2, :2].T + K[:2, 2] - uv).max() > 1e-4:
            out.append("dense: xyz do not project onto uv")
    if want.mesh:
        try:
            mesh = g.mesh(i)
            if len(mesh.faces) == 0 or not np.isfinite(np.asarray(mesh.vertices)).all():
                out.append("mesh: empty or not finite")
        except Exception as exc:
            out.append(f"mesh: {v['mesh_file']} unreadable ({type(exc).__name__})")
    return [f"view {i}: {p}" for p in out]


def check_pairs(pairs: dict, views: list[dict], cfg) -> list[str]:
    out = []
    if pairs.get("policy", {}).get("policy") != cfg.pairs.policy:
        out.append(f"pairs.json policy {pairs.get('policy')} is not the config's {cfg.pairs.policy!r}")
    n = len(views)
    seen = set()
    for p in pairs.get("pairs", []):
        a, q = p["anchor"], p["query"]
        if not (0 <= a < n and 0 <= q < n and a != q) or (a, q) in seen:
            out.append(f"pair ({a}, {q}): bad or repeated view indices")
            continue
        seen.add((a, q))
        Ra, ta = np.asarray(views[a]["R"]), np.asarray(views[a]["t"])
        Rq, tq = np.asarray(views[q]["R"]), np.asarray(views[q]["t"])
        Rr, tr = np.asarray(p["R_rel"]), np.asarray(p["t_rel"])
        if np.abs(Rr @ Ra - Rq).max() > TOL or np.abs(Rr @ ta + tr - tq).max() > TOL:
            out.append(f"pair ({a}, {q}): R_rel, t_rel do not carry the anchor pose to the query pose")
        elif abs(p["angle_deg"] - geodesic_deg(Ra, Rq)) > 1e-4:
            out.append(f"pair ({a}, {q}): angle_deg {p['angle_deg']:.4f} is not the geodesic distance")
    if cfg.pairs.policy == "all" and len(seen) != n * (n - 1):
        out.append(f"policy 'all' needs {n * (n - 1)} pairs, found {len(seen)}")
    return out


def check_group(g: Group, cfg) -> list[str]:
    """Problems of one group as the reader yields it."""
    out = []
    key, meta, pairs = g.key, g.meta, g.pairs
    W, H = cfg.image.width, cfg.image.height
    if meta.get("group") != int(key):
        out.append(f"meta.json says group {meta.get('group')}")
    try:
        g.spec()
    except ValueError as exc:
        out.append(f"meta.json spec is not a valid scene spec: {str(exc).splitlines()[0]}")
    views = meta.get("views", [])
    if len(views) != cfg.views:
        out.append(f"{len(views)} views, the config says {cfg.views}")
    for i, v in enumerate(views):
        if (v.get("W"), v.get("H")) != (W, H):
            out.append(f"view {i}: size {v.get('W')}x{v.get('H')}, the config says {W}x{H}")
        for name in (v.get("file"), v.get("mask_file")):
            try:
                with Image.open(io.BytesIO(g.files[name])) as img:
                    img.load()
                    if img.size != (W, H):
                        out.append(f"{name}: {img.size[0]}x{img.size[1]} pixels, expected {W}x{H}")
            except Exception as exc:  # missing, or not a decodable image
                out.append(f"{name}: missing or not a readable image ({type(exc).__name__})")
        out += check_view(v, i, W, H)
        out += check_labels(g, i, v, cfg.labels, W, H)
    out += check_pairs(pairs, views, cfg)
    return [f"group {key}: {p}" for p in out]


def check_shard(path: Path, cfg, manifest: dict, deep: bool = True) -> list[str]:
    """Problems of one shard (file vs manifest and record; with `deep`, every group's metadata)."""
    index = int(path.stem.split("-")[1])
    entry = manifest["shards"].get(str(index))
    entry = entry if isinstance(entry, dict) else {}  # not an entry: manifest_problems names it
    rec = read_record(path.parent, index)
    if entry.get("status") != "done":
        return ["not made yet (manifest status todo)" if not path.exists() else "present but not recorded as done"]
    if not path.exists():
        return ["missing (the manifest lists it as done)"]
    if rec is None or rec["entry"] != entry:
        return [f"{record_path(path.parent, index).name} is missing or disagrees with the manifest"]
    problem = file_problem(path, entry) or member_problem(path)
    if problem:
        return [problem]
    if not deep:
        return []
    try:
        groups = read_shard(path)
    except CorruptShard as exc:
        return [exc.args[0]]
    expected = [group_key(g) for g in shard_groups(cfg, index)]
    keys = [g.key for g in groups]
    if keys != expected:
        return [f"holds groups {keys}, expected {expected}"]
    return [p for g in groups for p in check_group(g, cfg)]


def manifest_problems(manifest: dict, cfg) -> list[str]:
    """What in the manifest's own keys disagrees with its config (which verify_corpus has validated and
    matched against config_hash): the format, seed, shard layout, and the shard list's shape."""
    out = []
    if manifest.get("format") != FORMAT:
        out.append(f"format {manifest.get('format')!r}, this relhead reads {FORMAT!r}")
    for key, want in (("seed", cfg.seed), ("groups_per_shard", cfg.groups_per_shard), ("views_per_group", cfg.views)):
        if key not in manifest:
            out.append(f"no {key!r} (the config says {want})")
        elif type(manifest[key]) is not int or manifest[key] != want:
            out.append(f"{key} {manifest[key]!r}, the config says {want}")
    shards = manifest.get("shards")
    if not isinstance(shards, dict):
        out.append(("no shard list ('shards' missing)" if shards is None else
                    f"'shards' is a JSON {type(shards).__name__}, not a mapping of shard index to entry")
                   + "; rendering into the folder again with its pipeline rebuilds it from the shard records")
        return out
    want = {str(i) for i in range(cfg.shards)}
    extra = sorted(set(shards) - want, key=lambda k: (len(k), k))
    if extra:
        out.append(f"'shards' lists {', '.join(map(repr, extra[:4]))}{' ...' if len(extra) > 4 else ''}, "
                   f"not shards of this corpus ({cfg.shards} shards)")
    for key in sorted(want & set(shards), key=int):
        entry = shards[key]
        if not isinstance(entry, dict) or entry.get("file") != shard_name(int(key)) \
                or entry.get("status") not in ("todo", "done"):
            out.append(f"shards[{key!r}] is not an entry for {shard_name(int(key))} ({json.dumps(entry)[:80]})")
    return out


def verify_corpus(corpus: str | Path, deep: bool = True, progress: bool = True) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the corpus in `corpus`; no problems means it verifies."""
    from pydantic import ValidationError
    from tqdm import tqdm

    from relhead.config import PipelineConfig, config_hash

    corpus = Path(corpus)
    try:
        manifest = read_manifest(corpus)
    except ConfigError as exc:  # not JSON, not text, not a mapping
        return [str(exc)], []
    if manifest is None:
        return [f"{corpus / MANIFEST}: missing (is this a corpus folder?)"], []
    try:
        cfg = PipelineConfig.model_validate(manifest["config"])
    except ValidationError as exc:  # e.g. made with a head-model backend that is not installed here
        first = exc.errors()[0]
        return [f"{corpus / MANIFEST}: its config is not valid here: {'.'.join(map(str, first['loc']))}: "
                f"{first['msg']}"], []
    except (KeyError, TypeError) as exc:
        return [f"{corpus / MANIFEST}: not a manifest (no config: {type(exc).__name__} {exc})"], []
    if config_hash(manifest["config"]) != manifest.get("config_hash"):
        return [f"{MANIFEST}: config_hash {manifest.get('config_hash')} does not match its config "
                f"({config_hash(manifest['config'])})"], []
    problems, warns = [f"{MANIFEST}: {p}" for p in manifest_problems(manifest, cfg)], []
    if not isinstance(manifest.get("shards"), dict):
        return problems, warns  # no shard list to check the files against
    names = {shard_name(i) for i in range(cfg.shards)}
    for stray in sorted(p.name for p in corpus.glob("shard-*.tar") if p.name not in names):
        problems.append(f"{stray}: not a shard of this corpus ({cfg.shards} shards)")
    for i in tqdm(range(cfg.shards), desc="verify", unit="shard", disable=not progress):
        path = corpus / shard_name(i)
        problems += [f"{path.name}: {p}" for p in check_shard(path, cfg, manifest, deep)]
        if lease_path(path).exists():
            warns.append(f"{path.name}: a run holds (or held, and died) its lease {lease_path(path).name}")
        rec = read_record(corpus, i)
        made, listed = (d.get("versions") if isinstance(d, dict) else None for d in ((rec or {}).get("stats"), manifest))
        made, listed = (v if isinstance(v, dict) else {} for v in (made, listed))
        if rec and made.get("bpy") != listed.get("bpy"):
            warns.append(f"{path.name}: made with bpy {made.get('bpy')}, the manifest says {listed.get('bpy')}")
    left = sorted(p.name for p in corpus.glob(".*") if ".tmp-" in p.name or ".partial-" in p.name)
    if left:
        warns.append(f"temporary file(s) {', '.join(left)} left by a run that stopped early (killed, or a full disk); "
                     "rendering into this corpus again removes them")
    return problems, warns
