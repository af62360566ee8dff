"""Verify a corpus: files against the manifest, and every group's ground truth against its ranges.

Problems are lines `<shard file>: <problem>` (or `manifest.json: ...`); the training reader raises
the same lines for hash problems (both call manifest.file_problem) and for members that are not
regular files (shards.member_problem).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from relhead.datasets.lease import lease_path
from relhead.datasets.manifest import MANIFEST, file_problem, read_manifest, read_record, record_path, shard_groups, shard_name
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
    out += check_pairs(pairs, views, cfg)
    return [f"group {key}: {p}" for p in out]


def check_shard(path: Path, cfg, manifest: dict, deep: bool = True) -> list[str]:
    """Problems of one shard (file vs manifest and record; with `deep`, every group's metadata)."""
    index = int(path.stem.split("-")[1])
    entry = manifest["shards"].get(str(index), {})
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


def verify_corpus(corpus: str | Path, deep: bool = True, progress: bool = True) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the corpus in `corpus`; no problems means it verifies."""
    from pydantic import ValidationError
    from tqdm import tqdm

    from relhead.config import PipelineConfig, config_hash

    corpus = Path(corpus)
    try:
        manifest = read_manifest(corpus)
    except ValueError as exc:  # not JSON, or not text
        return [f"{corpus / MANIFEST}: not a manifest ({type(exc).__name__}: {str(exc).splitlines()[0]})"], []
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
    if config_hash(manifest["config"]) != manifest["config_hash"]:
        return [f"{MANIFEST}: config_hash {manifest['config_hash']} does not match its config "
                f"({config_hash(manifest['config'])})"], []
    problems, warns = [], []
    names = {shard_name(i) for i in range(cfg.shards)}
    for stray in sorted(p.name for p in corpus.glob("shard-*.tar") if p.name not in names):
        problems.append(f"{stray}: not a shard of this corpus ({cfg.shards} shards)")
    for i in tqdm(range(cfg.shards), desc="verify", unit="shard", disable=not progress):
        path = corpus / shard_name(i)
        problems += [f"{path.name}: {p}" for p in check_shard(path, cfg, manifest, deep)]
        if lease_path(path).exists():
            warns.append(f"{path.name}: a run holds (or held, and died) its lease {lease_path(path).name}")
        rec = read_record(corpus, i)
        if rec and rec["stats"].get("versions", {}).get("bpy") != manifest["versions"].get("bpy"):
            warns.append(f"{path.name}: made with bpy {rec['stats']['versions'].get('bpy')}, "
                         f"the manifest says {manifest['versions'].get('bpy')}")
    left = sorted(p.name for p in corpus.glob(".*") if ".tmp-" in p.name or ".partial-" in p.name)
    if left:
        warns.append(f"temporary file(s) {', '.join(left)} left by a run that stopped early (killed, or a full disk); "
                     "rendering into this corpus again removes them")
    return problems, warns
