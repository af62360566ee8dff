"""Evaluation on held-out groups: rotation and translation errors, overall, for the `easy` and `hard`
tags and by the query's angle from frontal; a JSON file and a printed table. Where held-out groups are
temporal clips, a `clips` section adds the anchor policies' errors on them (relhead.train.clips).

Every number is a mean over the pairs of its row (`rot_med_deg` a median), with evaluation crops
(the centre of the training crops, CropCfg.centre: no shift, no augmentation):
- `rot_deg`: geodesic angle of R_pred R_true^T, degrees;
- `yaw_deg`, `pitch_deg`, `roll_deg`: absolute differences of relhead.frames.matrix_to_euler of
  R_pred and R_true (relhead's sampling decomposition; BIWI MAE uses biwi_euler), wrapped into
  [0, 180]; `ypr_deg` their mean;
- `t_m`: Euclidean distance of t_pred and t_true, metres.
Sections:
- `relative`: the relative transform of the query w.r.t. the anchor (R_rel, t_rel of docs/design.md,
  "Frames and conventions"). The relative model predicts it directly; the absolute twin's is derived
  from its two single-frame predictions, R_rel = R_q R_a^T and t_rel = t_q - R_rel t_a, so both models
  are compared like with like.
- `query`: the query's absolute head pose in its camera. Relative model: R_rel_pred R_a and
  R_rel_pred t_a + t_rel_pred with the anchor's TRUE pose (as `relhead predict --anchor-pose` does and
  as the BIWI relative protocol compares; its rot_deg equals the relative one, its Euler errors do
  not); absolute twin: its own prediction of the query frame alone.
- `identity`: the trivial baseline on the same pairs, R_rel = I and t_rel = 0 (no motion): its
  rot_deg is the pairs' own angle.
Rows: `overall`, `easy`, `hard` (the pair's tags: pairs.json's where the pair is recorded, else the
corpus' thresholds), and `query_angle` bins of the query's angle from frontal (geodesic of its R
from the identity): 0-15, 15-30, 30-45, 45-60, 60+ degrees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch

from relhead.frames import (encoding_to_pose, euler_to_matrix, geodesic_deg, matrix_to_euler, mirror_pose,
                            relative_transform)
from relhead.train import clips as C
from relhead.train.data import eval_batches, eval_clips, turn_frames

BINS = ((0, 15), (15, 30), (30, 45), (45, 60), (60, 181))
METRICS = ("rot_deg", "rot_med_deg", "yaw_deg", "pitch_deg", "roll_deg", "ypr_deg", "t_m")


def bin_name(lo: float, hi: float) -> str:
    return f"{lo}+" if hi > 180 else f"{lo}-{hi}"


TestTime = Literal["swap", "mirror", "roll"]  # TrainConfig.test_time's variants
TEST_TIME = get_args(TestTime)
ROLL_DEG = 10.0  # test_time `roll`: both frames also turned by +-this


@torch.no_grad()
def predict_poses(model, images: torch.Tensor, mode: str, device, bf16: bool, test_time=()) -> dict[str, np.ndarray]:
    """Pairs (B, 2, 3, H, W) -> predicted R_rel, t_rel (and R_a, t_a, R_q, t_q for the absolute twin).

    `test_time` (TrainConfig.test_time) averages exact variants of each pair: `swap` the inverse of the
    reversed pair's prediction (relative model), `mirror` the prediction for both frames mirrored
    left-right, mirrored back (relhead.frames.mirror_pose), `roll` the predictions for both frames turned
    by +-ROLL_DEG about their centres (relhead.train.data.turn_frames: an exact camera roll Rz, which takes
    every pose (R, t) to (Rz R, Rz t) and a relative one to (Rz R_rel Rz^T, Rz t_rel)), turned back;
    rotations by their chordal mean (the nearest rotation to the sum: roma.special_procrustes),
    translations by their mean. `R_rel_net` is always the network's own prediction for the pair as given
    (for label-free consistency checks)."""
    rolls = (0.0, ROLL_DEG, -ROLL_DEG) if "roll" in test_time else (0.0,)
    swaps = (False, True) if "swap" in test_time and mode == "relative" else (False,)
    mirrors = (False, True) if "mirror" in test_time else (False,)
    variants = [(m, s) for m in mirrors for s in swaps]
    B = images.shape[0]
    outs = []
    for r in rolls:  # one network call per roll (its mirrors and swaps batched)
        turned = turn_frames(images, r) if r else images
        xs = []
        for m, s in variants:
            x = turned.flip(-1) if m else turned
            xs.append(x.flip(1) if s else x)
        both = _net_poses(model, torch.cat(xs), mode, device, bf16)
        for i, (m, s) in enumerate(variants):
            p = {k: v[i * B:(i + 1) * B] for k, v in both.items()}
            if s:  # the reversed pair's (R, t) maps query to anchor: invert it
                Rt = p["R_rel"].transpose(0, 2, 1)
                p = {"R_rel": Rt, "t_rel": -np.einsum("bij,bj->bi", Rt, p["t_rel"])}
            if m:  # mirror every pose it holds back (relhead.frames.mirror_pose is its own inverse)
                for f in ("rel", "a", "q"):
                    if f"R_{f}" in p:
                        p[f"R_{f}"], p[f"t_{f}"] = mirror_pose(p[f"R_{f}"], p[f"t_{f}"])
            if r:  # turn it back: Rz^T R (Rz for the relative pose), Rz^T t
                Rz = euler_to_matrix(0.0, 0.0, r)
                for f in ("rel", "a", "q"):
                    if f"R_{f}" in p:
                        R = Rz.T @ p[f"R_{f}"]
                        p[f"R_{f}"], p[f"t_{f}"] = (R @ Rz if f == "rel" else R), p[f"t_{f}"] @ Rz
            outs.append(p)
    out = {k: _mean_pose(k, [p[k] for p in outs]) for k in outs[0]}
    if mode == "absolute" and len(outs) > 1:
        out["R_rel"], out["t_rel"] = relative_transform(out["R_a"], out["t_a"], out["R_q"], out["t_q"])
    out["R_rel_net"] = outs[0]["R_rel"]
    return out


def _mean_pose(key: str, values: list[np.ndarray]) -> np.ndarray:
    if len(values) == 1:
        return values[0]
    if key.startswith("t_"):
        return np.mean(values, axis=0)
    import roma

    return roma.special_procrustes(torch.as_tensor(np.sum(values, axis=0), dtype=torch.float64)).numpy()


def _net_poses(model, images: torch.Tensor, mode: str, device, bf16: bool) -> dict[str, np.ndarray]:
    B, _, _, H, W = images.shape
    x = images.to(device)
    if mode == "absolute":
        x = x.flatten(0, 1)[:, None]  # every frame alone (S = 1)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        enc = model(x)[-1].float().cpu().numpy()
    # (decoding also gives K; a predicted field of view of 0 makes its focal length infinite: unused here)
    with np.errstate(divide="ignore"):
        if mode == "relative":
            R_rel, t_rel, _ = encoding_to_pose(enc[:, 1], W, H)
            return {"R_rel": R_rel, "t_rel": t_rel}
        R, t, _ = encoding_to_pose(enc[:, 0].reshape(B, 2, 9), W, H)
    R_a, R_q, t_a, t_q = R[:, 0], R[:, 1], t[:, 0], t[:, 1]
    R_rel, t_rel = relative_transform(R_a, t_a, R_q, t_q)
    return {"R_rel": R_rel, "t_rel": t_rel, "R_a": R_a, "t_a": t_a, "R_q": R_q, "t_q": t_q}


def pose_errors(R_pred, t_pred, R_true, t_true) -> dict[str, float]:
    ypr_p, ypr_t = np.array(matrix_to_euler(R_pred)), np.array(matrix_to_euler(R_true))
    d = np.abs((ypr_p - ypr_t + 180.0) % 360.0 - 180.0)
    return {"rot_deg": geodesic_deg(R_pred, R_true), "yaw_deg": d[0], "pitch_deg": d[1], "roll_deg": d[2],
            "t_m": float(np.linalg.norm(np.asarray(t_pred) - np.asarray(t_true)))}


def summarise(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0, **{m: None for m in METRICS}}
    col = {k: np.array([r[k] for r in rows]) for k in ("rot_deg", "yaw_deg", "pitch_deg", "roll_deg", "t_m")}
    out = {"n": len(rows), **{k: float(v.mean()) for k, v in col.items()}}
    out["rot_med_deg"] = float(np.median(col["rot_deg"]))
    out["ypr_deg"] = (out["yaw_deg"] + out["pitch_deg"] + out["roll_deg"]) / 3
    return {"n": out["n"], **{m: out[m] for m in METRICS}}


def table(rows: list[dict]) -> dict:
    """Per-pair rows (with `tags`, `query_angle_deg`) -> overall / easy / hard / query_angle bins."""
    return {"overall": summarise(rows),
            "easy": summarise([r for r in rows if "easy" in r["tags"]]),
            "hard": summarise([r for r in rows if "hard" in r["tags"]]),
            "query_angle": {bin_name(lo, hi): summarise([r for r in rows if lo <= r["query_angle_deg"] < hi])
                            for lo, hi in BINS}}


def evaluate(model, cfg, corpora, device, bf16: bool = False, limit: int | None = None,
             batch: int | None = None, progress: bool = False) -> dict:
    """Errors of `model` (trained as `cfg`) on the held-out pairs of `corpora` (the first `limit`);
    `progress`: a progress bar of the pairs on stderr when it is a terminal."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    rel_rows, query_rows, identity_rows, per_pair = [], [], [], []
    bar = tqdm(desc="eval pairs", unit="pair", total=limit, disable=None if progress else True, leave=False,
               dynamic_ncols=True)
    for b in eval_batches(corpora, cfg.data, cfg.size, batch or cfg.data.batch, limit):
        pred = predict_poses(model, b["images"], cfg.mode, device, bf16, cfg.test_time)
        bar.update(len(b["meta"]))
        for i, m in enumerate(b["meta"]):
            R_rel = m["R_q"] @ m["R_a"].T
            t_rel = m["t_q"] - R_rel @ m["t_a"]
            common = {"tags": m["tags"], "query_angle_deg": m["query_angle_deg"]}
            rel = pose_errors(pred["R_rel"][i], pred["t_rel"][i], R_rel, t_rel)
            if cfg.mode == "relative":
                R_q = pred["R_rel"][i] @ m["R_a"]
                t_q = pred["R_rel"][i] @ m["t_a"] + pred["t_rel"][i]
            else:
                R_q, t_q = pred["R_q"][i], pred["t_q"][i]
            query = pose_errors(R_q, t_q, m["R_q"], m["t_q"])
            rel_rows.append({**rel, **common})
            query_rows.append({**query, **common})
            identity_rows.append({**pose_errors(np.eye(3), np.zeros(3), R_rel, t_rel), **common})
            per_pair.append({"key": m["key"], "anchor": m["anchor"], "query": m["query"],
                             "angle_deg": m["angle_deg"], "query_angle_deg": m["query_angle_deg"], "tags": m["tags"],
                             "rot_deg": rel["rot_deg"], "t_m": rel["t_m"],
                             "R_rel_pred": np.round(pred["R_rel"][i], 6).tolist()})
    bar.close()
    model.train(was_training)
    return {"mode": cfg.mode, "pairs": len(rel_rows), "groups": len({p["key"] for p in per_pair}),
            "relative": table(rel_rows), "query": table(query_rows), "identity": table(identity_rows),
            "per_pair": per_pair}


def evaluate_clips(model, cfg, corpora, device, bf16: bool = False, batch: int | None = None,
                   known_every: int = 10, progress: bool = False) -> dict | None:
    """Anchor policies on the held-out temporal clips of `corpora` (None when there are none): every
    pair a policy needs is predicted once, in batches, with evaluation crops."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    rows = {p: [] for p in C.POLICIES}
    n_clips = n_frames = 0
    batch = batch or cfg.data.batch
    clips = tqdm(eval_clips(corpora, cfg.data, cfg.size), desc="eval clips", unit="clip",
                 disable=None if progress else True, leave=False, dynamic_ncols=True)
    for clip in clips:
        n = len(clip["R"])
        pairs = sorted({pq for p in C.POLICIES for pq in C.policy_pairs(p, n, known_every)})
        rel = {}
        for i in range(0, len(pairs), batch):
            chunk = pairs[i:i + batch]
            images = torch.stack([clip["images"][[a, q]] for a, q in chunk])
            pred = predict_poses(model, images, cfg.mode, device, bf16, cfg.test_time)["R_rel"]
            rel.update(zip(chunk, pred))
        for p in C.POLICIES:
            rows[p] += C.clip_rows(p, clip["R"], rel, known_every)
        n_clips, n_frames = n_clips + 1, n_frames + n
    model.train(was_training)
    if n_clips == 0:
        return None
    return {"clips": n_clips, "frames": n_frames, "known_every": known_every,
            "fused_weights": f"1 / ({C.FUSE_SCALE_DEG:g} + predicted relative angle in degrees)^2",
            "policies": {p: C.summarise(rows[p]) for p in C.POLICIES},
            "definitions": C.__doc__.strip()}


def format_table(section: dict, title: str) -> str:
    names = ("rot", "rot med", "yaw", "pitch", "roll", "ypr", "t (m)")
    head = f"{title:<14}{'n':>6}" + "".join(f"{h:>9}" for h in names)
    lines = [head]
    rows = [("overall", section["overall"]), ("easy", section["easy"]), ("hard", section["hard"])]
    rows += [(f"query {k}", v) for k, v in section["query_angle"].items()]
    for name, s in rows:
        vals = "".join(f"{'-':>9}" if s[m] is None else f"{s[m]:>9.4f}" if m == "t_m" else f"{s[m]:>9.2f}"
                       for m in METRICS)
        lines.append(f"{name:<14}{s['n']:>6}{vals}")
    return "\n".join(lines)


def evaluate_run(run: str | Path, data: list[str] | None = None, out: str | Path | None = None,
                 batch: int | None = None, device: str = "auto", split: str = "auto", known_every: int = 10) -> dict:
    """`relhead eval`: a run's latest checkpoint on `data` (default: the corpora it was trained on);
    writes JSON to `out` (default RUN/eval.json) and prints the tables. `split`: which groups of a
    corpus are evaluated: `auto` the held-out ones of a corpus the run trained on and all of any
    other, `held-out` or `all` for every corpus. Evaluated temporal clips add the `clips` section
    (anchor policies; nearest and fused know every `known_every`-th frame)."""
    import dataclasses

    from relhead.configbase import ConfigError
    from relhead.train.data import open_corpora
    from relhead.files import check_out_file, write_atomic
    from relhead.train.runs import load_run, read_run_config, resolve_device

    _, trained_on = read_run_config(run)
    out = check_out_file(out if out else Path(run) / "eval.json", "--out", "eval.json")  # before the work
    seen = {Path(p).resolve() for p in trained_on}
    corpora = [dataclasses.replace(c, held_out_only=split == "held-out" or (split == "auto" and
                                                                            c.path.resolve() in seen))
               for c in open_corpora(data or trained_on)]
    cfg, model = load_run(run, "cpu")
    if device != "auto":
        cfg = cfg.model_copy(update={"device": device})
    dev, bf16 = resolve_device(cfg)
    model.to(dev)
    res = evaluate(model, cfg, corpora, dev, bf16, batch=batch, progress=True)
    if res["pairs"] == 0:
        raise ConfigError(f"no held-out groups in {', '.join(c.name for c in corpora)} "
                          f"(data.holdout_every {cfg.data.holdout_every}: group ids g % k == k - 1; "
                          f"--split all evaluates every group)")
    res = {"run": str(run), "data": [str(c.path) for c in corpora], "holdout_every": cfg.data.holdout_every,
           "groups_evaluated": {c.name: "held-out" if c.held_out_only else "all" for c in corpora},
           "definitions": __doc__.split("Every number", 1)[1].strip(), **res}
    clips = evaluate_clips(model, cfg, corpora, dev, bf16, batch=batch, known_every=known_every, progress=True)
    if clips is not None:
        res["clips"] = clips
    write_atomic(out, json.dumps(res, indent=1), parents=True)
    which = ", ".join(f"{k}: {v}" for k, v in res["groups_evaluated"].items())
    print(f"{run}: {cfg.mode} model, {res['pairs']} pairs in {res['groups']} groups ({which}) -> {out}")
    print(format_table(res["relative"], "relative"))
    print(format_table(res["query"], "query (abs)"))
    print(format_table(res["identity"], "identity"))
    if clips is not None:
        print(f"{clips['clips']} clips, {clips['frames']} frames, nearest/fused know every {known_every}th frame")
        print(C.format_table(clips))
    return res
