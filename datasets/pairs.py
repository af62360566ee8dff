"""Pairs within a group: which anchor/query pairs a pair policy records, and their ground truth.

Policies (`pairs.policy` in pipelines.yaml):
- `all`: every ordered pair (V * (V - 1) per group);
- `neutral-anchor`: the most frontal view (head pose closest to R = I) is the anchor of every pair;
- `random`: `pairs.k` distinct ordered pairs drawn with the group's own random stream;
- `easy` / `hard`: the ordered pairs whose angular distance is <= `easy_max_deg` / >= `hard_min_deg`.
Every pair carries the tags `easy`, `hard` (by angle) and `neutral-anchor` whatever the policy.
"""

from __future__ import annotations

import numpy as np

from relhead.frames import geodesic_deg, relative_transform

PAIRS_STREAM = 1  # spawn key of the pair policy's random stream, apart from the scene sampling


def make_pair(views: list[dict], a: int, q: int) -> dict:
    """Relative transform from view a (anchor) to view q (query), see relhead.frames."""
    R_a, t_a = np.asarray(views[a]["R"]), np.asarray(views[a]["t"])
    R_q, t_q = np.asarray(views[q]["R"]), np.asarray(views[q]["t"])
    R_rel, t_rel = relative_transform(R_a, t_a, R_q, t_q)
    return {"anchor": a, "query": q, "R_rel": R_rel.tolist(), "t_rel": t_rel.tolist(),
            "angle_deg": geodesic_deg(R_a, R_q)}


def frontal_view(views: list[dict]) -> int:
    """The view whose head pose is closest to frontal (R = I)."""
    return int(np.argmin([geodesic_deg(np.asarray(v["R"]), np.eye(3)) for v in views]))


def tag(pair: dict, frontal: int, cfg) -> list[str]:
    tags = []
    if pair["angle_deg"] <= cfg.easy_max_deg:
        tags.append("easy")
    if pair["angle_deg"] >= cfg.hard_min_deg:
        tags.append("hard")
    if pair["anchor"] == frontal:
        tags.append("neutral-anchor")
    return tags


def choose_pairs(views: list[dict], cfg, group_seed: int) -> dict:
    """pairs.json of a group: the policy (as configured) and the pairs it chose, in a fixed order."""
    n = len(views)
    frontal = frontal_view(views)
    ordered = [(a, q) for a in range(n) for q in range(n) if a != q]
    if cfg.policy == "neutral-anchor":
        ordered = [(a, q) for a, q in ordered if a == frontal]
    elif cfg.policy == "random":
        rng = np.random.default_rng(np.random.SeedSequence(group_seed, spawn_key=(PAIRS_STREAM,)))
        pick = rng.choice(len(ordered), size=min(cfg.k, len(ordered)), replace=False)
        ordered = [ordered[i] for i in sorted(pick)]
    pairs = []
    for a, q in ordered:
        p = make_pair(views, a, q)
        p["tags"] = tag(p, frontal, cfg)
        pairs.append(p)
    if cfg.policy in ("easy", "hard"):
        pairs = [p for p in pairs if cfg.policy in p["tags"]]
    return {"policy": cfg.model_dump(mode="json"), "frontal_view": frontal, "pairs": pairs}
