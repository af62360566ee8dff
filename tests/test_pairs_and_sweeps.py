"""Pair policies on synthetic views (no rendering), sweeps resolved from a pipelines file, and one
sweep rendered (slow)."""

import json

import numpy as np
import pytest

from relhead.cli import main
from relhead.config import ConfigError, PairsCfg, resolve_sweep
from relhead.datasets.pairs import choose_pairs
from relhead.frames import euler_to_matrix, geodesic_deg

# yaw of 5 views; view 2 (yaw 5) is the most frontal
YAWS = [-70.0, -20.0, 5.0, 35.0, 80.0]


def views():
    return [{"R": euler_to_matrix(y, 0.0, 0.0).tolist(), "t": [0.0, 0.0, 0.5 + i / 10]} for i, y in enumerate(YAWS)]


def pairs(policy, seed=0, **kw):
    return choose_pairs(views(), PairsCfg(policy=policy, **kw), seed)


def test_all_pairs_are_every_ordered_pair_with_tags():
    doc = pairs("all")
    assert doc["policy"]["policy"] == "all" and doc["frontal_view"] == 2
    assert [(p["anchor"], p["query"]) for p in doc["pairs"]] == [(a, q) for a in range(5) for q in range(5) if a != q]
    for p in doc["pairs"]:
        angle = abs(YAWS[p["anchor"]] - YAWS[p["query"]])
        assert p["angle_deg"] == pytest.approx(angle)
        assert ("easy" in p["tags"]) == (angle <= 30) and ("hard" in p["tags"]) == (angle >= 45)
        assert ("neutral-anchor" in p["tags"]) == (p["anchor"] == 2)


def test_neutral_anchor_uses_the_most_frontal_view():
    ps = pairs("neutral-anchor")["pairs"]
    assert [(p["anchor"], p["query"]) for p in ps] == [(2, 0), (2, 1), (2, 3), (2, 4)]


def test_random_k_is_deterministic_per_group_seed():
    a, b, c = (pairs("random", seed=s, k=6)["pairs"] for s in (11, 11, 12))
    assert len(a) == 6 and len({(p["anchor"], p["query"]) for p in a}) == 6
    assert a == b and a != c
    assert len(pairs("random", k=100)["pairs"]) == 20  # capped at all ordered pairs


def test_easy_and_hard_select_by_angle():
    easy, hard = pairs("easy")["pairs"], pairs("hard", hard_min_deg=60)["pairs"]
    assert easy and all(p["angle_deg"] <= 30 for p in easy)
    assert {(p["anchor"], p["query"]) for p in hard} == {
        (a, q) for a in range(5) for q in range(5) if abs(YAWS[a] - YAWS[q]) >= 60}


def test_pairs_hold_the_relative_transform():
    v = views()
    for p in pairs("all")["pairs"]:
        Ra, Rq = np.asarray(v[p["anchor"]]["R"]), np.asarray(v[p["query"]]["R"])
        assert np.abs(np.asarray(p["R_rel"]) @ Ra - Rq).max() < 1e-12
        assert np.abs(np.asarray(p["R_rel"]) @ v[p["anchor"]]["t"] + p["t_rel"] - v[p["query"]]["t"]).max() < 1e-12
        assert geodesic_deg(Ra, Rq) == pytest.approx(p["angle_deg"])


def test_unknown_policy_is_a_config_error():
    from relhead.config import resolve

    with pytest.raises(ConfigError, match="pairs.policy"):
        resolve("test", ["pairs.policy=nearest"])


SWEEPS = """
pipelines:
  tiny:
    seed: 3
    shards: 1
    groups_per_shard: 1
    views: 2
    image: {width: 64, height: 64}
    render: {engine: workbench}
    head: {model: fake}
sweeps:
  grid:
    base: tiny
    set: {render: {samples: 2}}
    axes:
      lighting.strength: [[0.5, 0.5], [2.0, 2.0]]
      pairs.policy: [all, neutral-anchor]
  broken:
    base: tiny
    axes:
      lighting.strenght: [[1, 1]]
"""


@pytest.fixture()
def sweeps_file(tmp_path):
    path = tmp_path / "pipelines.yaml"
    path.write_text(SWEEPS)
    return path


def test_sweep_is_the_cartesian_product(sweeps_file):
    combos = resolve_sweep("grid", path=sweeps_file)
    assert [c.name for c in combos] == ["000_strength=0.5-0.5_policy=all", "001_strength=0.5-0.5_policy=neutral-anchor",
                                        "002_strength=2-2_policy=all", "003_strength=2-2_policy=neutral-anchor"]
    assert combos[3].config.lighting.strength == (2.0, 2.0) and combos[3].config.pairs.policy == "neutral-anchor"
    assert all(c.config.render.samples == 2 and c.config.seed == 3 for c in combos)
    assert len({c.config.hash() for c in combos}) == 4


def test_sweep_errors_name_the_sweep_and_key(sweeps_file):
    with pytest.raises(ConfigError, match=r"sweep 'broken'.*lighting.strenght: unknown key"):
        resolve_sweep("broken", path=sweeps_file)
    with pytest.raises(ConfigError, match="sweep 'nope' not found; known: broken, grid"):
        resolve_sweep("nope", path=sweeps_file)


def test_sweep_dry_run_lists_and_writes_nothing(sweeps_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "grid", "--out", str(out), "--config", str(sweeps_file), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 corpora" in text and "003_strength=2-2_policy=neutral-anchor" in text
    assert not out.exists()


@pytest.mark.slow
def test_sweep_renders_one_corpus_per_combination(sweeps_file, tmp_path):
    out = tmp_path / "out"
    assert main(["sweep", "grid", "--out", str(out), "--config", str(sweeps_file)]) == 0
    doc = json.loads((out / "grid" / "sweep.json").read_text())
    assert [r["shards_done"] for r in doc["combinations"]] == [1, 1, 1, 1]
    for row in doc["combinations"]:
        assert main(["verify", str(out / "grid" / row["dir"])]) == 0
        manifest = json.loads((out / "grid" / row["dir"] / "manifest.json").read_text())
        assert manifest["config_hash"] == row["config_hash"]
