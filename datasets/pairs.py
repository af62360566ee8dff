"""Pairs within a group: which anchor/query pairs to record, and their ground-truth relative pose."""

from __future__ import annotations

import numpy as np

from relhead.frames import geodesic_deg, relative_transform


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


def choose_pairs(views: list[dict], cfg) -> list[dict]:
    """Pairs chosen by the pipeline's pair policy, tagged easy/hard by angle and neutral-anchor."""
    if cfg.policy != "all":
        raise ValueError(f"pairs.policy: unknown {cfg.policy!r}")
    n = len(views)
    frontal = frontal_view(views)
    pairs = []
    for a in range(n):
        for q in range(n):
            if a == q:
                continue
            p = make_pair(views, a, q)
            tags = []
            if p["angle_deg"] <= cfg.easy_max_deg:
                tags.append("easy")
            if p["angle_deg"] >= cfg.hard_min_deg:
                tags.append("hard")
            if a == frontal:
                tags.append("neutral-anchor")
            p["tags"] = tags
            pairs.append(p)
    return pairs
