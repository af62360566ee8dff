"""bench/misses.py: a realism run's views joined with their specs (sampled again) and split by attribute;
a result that does not come from the configuration it names is refused."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))


def _result(views_found) -> dict:
    """A bench/realism.py --json result for 6 groups x 2 views of `realistic`, detections from `views_found`."""
    import misses

    args = {"pipeline": "realistic", "groups": 6, "views": 2, "size": 64, "set": []}
    cfg = misses.row_config(args, [])
    from relhead.assets.registry import get_head_model
    from relhead.datasets.generate import pools

    hm = get_head_model(cfg.head)
    here = pools(cfg)
    specs = [here.spec(cfg, g, hm) for g in range(6)]
    views = []
    for g, s in enumerate(specs):
        for i, v in enumerate(s.views):
            views.append({"abs_yaw": abs(v.euler_deg.yaw), "face_box": [10.0, 10.0, 40.0, 44.0],
                          "detected": views_found(g, i)})
    return {"args": args, "rows": {"realistic as shipped": {"sets": [], "views": views}}}, specs


def test_the_table_counts_each_attribute_value_over_the_views_below_60_degrees():
    import misses

    result, specs = _result(lambda g, i: g % 2 == 0)
    views, _, _ = misses.joined(result, "realistic as shipped")
    assert [v["HDRI"] for v in views[::2]] == [s.lighting.hdri.name for s in specs]
    lines = misses.table(views)
    below = [(g, i) for g, s in enumerate(specs) for i, v in enumerate(s.views) if abs(v.euler_deg.yaw) < 60]
    k = sum(g % 2 == 0 for g, _ in below)
    assert lines[0].startswith(f"All views below 60 degrees of |yaw|: {round(100 * k / len(below))}% ({k}/{len(below)}")
    for name in {s.lighting.hdri.name for s in specs}:
        sel = [(g, i) for g, i in below if specs[g].lighting.hdri.name == name]
        if sel:
            row = next(ln for ln in lines if f"| {name} |" in ln)
            found = sum(g % 2 == 0 for g, _ in sel)
            assert re.search(rf"\({found}/{len(sel)};", row), row


def test_a_result_from_another_configuration_is_refused():
    import misses

    result, _ = _result(lambda g, i: True)
    result["args"]["set"] = ["seed=5"]  # not what the views were rendered with
    with pytest.raises(SystemExit, match="not the same configuration"):
        misses.joined(result, "realistic as shipped")
