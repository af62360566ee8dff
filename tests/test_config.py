from pathlib import Path

import pytest

from relhead.cli import main
from relhead.config import ConfigError, resolve


def test_named_pipelines_resolve():
    q = resolve("quickstart")
    p = resolve("paper")
    assert p.views == 5 and p.render.samples == 64 and p.pose.yaw_deg == (-80.0, 80.0)
    assert p.pose.pitch_deg == (-40.0, 30.0)
    assert p.camera.focal_mm[1] / p.camera.focal_mm[0] == pytest.approx(4.0)  # 0.5x-2x of the middle
    assert q.hash() != p.hash()
    assert resolve("quickstart", ["render.samples=32"]).render.samples == 32


@pytest.mark.parametrize(
    "overrides, expect",
    [
        (["render.sampels=4"], "render.sampels: unknown key; allowed here: adaptive_min_samples, adaptive_threshold, denoise"),
        (["render.samples=many"], "render.samples: Input should be a valid integer"),
        (["render.samples=-3"], "render.samples: Input should be greater than or equal to 1"),
        (["render.engine=povray"], "render.engine: Input should be 'cycles', 'eevee' or 'workbench'"),
        (["pose.yaw_deg=[30,-30]"], "pose.yaw_deg: [min, max] needs min <= max"),
        (["head.expression.weight=[0.9,0.1]"], "head.expression.weight: [min, max] needs min <= max"),
        (["pairs.policy=random", "pairs.k=13"], "pairs.k: more than the 12 ordered pairs of 4 views (got 13)"),
        (["head.agee=3"], "head.agee: unknown key; allowed here: age_years, expression, gaze_pitch_deg"),
        (["pose.yaw_deg=[0,400]"], "pose.yaw_deg.1: Input should be less than or equal to 180"),
        (["views"], "--set 'views': expected key=value"),
    ],
)
def test_bad_overrides_are_one_clear_line(overrides, expect):
    with pytest.raises(ConfigError) as e:
        resolve("quickstart", overrides)
    msg = str(e.value)
    assert msg.startswith(expect), msg
    assert "\n" not in msg


def test_unknown_pipeline_lists_known():
    with pytest.raises(ConfigError, match="pipeline 'nope' not found; known: clips, paper, quickstart"):
        resolve("nope")


def test_pipelines_ship_with_the_package():
    """The pipelines file is package data (not found relative to the current folder)."""
    from relhead.config import PIPELINES_FILE

    assert PIPELINES_FILE.parent.name == "relhead" and PIPELINES_FILE.is_file()
    assert "quickstart" in PIPELINES_FILE.read_text()


def test_config_file_and_inherit(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("pipelines:\n  base: {seed: 5, views: 3}\n  child: {inherit: base, views: 6}\n")
    c = resolve("child", ["seed=9"], path=f)
    assert (c.seed, c.views, c.name) == (9, 6, "child")


def test_bad_pipelines_file(tmp_path):
    f = tmp_path / "pipelines.yaml"
    f.write_text("pipelines:\n  a:\n    seed: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve("a", path=f)
    f.write_text("pipelines:\n  a:\n    inherit: b\n  b:\n    inherit: a\n")
    with pytest.raises(ConfigError, match="inherit cycle"):
        resolve("a", path=f)


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "render.sampels=4"],
        ["--set", "image.format=bmp"],
        ["--set", "lighting.hdris=[no_such_hdri]"],
        ["--shards", "5:9"],
        ["--set", "pairs.policy=random", "--set", "pairs.k=99"],
        ["--lease-timeout", "0"],
    ],
)
def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, args):
    out = tmp_path / "out"
    code = main(["render", "--pipeline", "quickstart", "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("relhead: config error: ") and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("make_bad", ["under_a_file", "in_proc"])
def test_cli_unwritable_out_is_one_line_exit_2_nothing_written(tmp_path, capsys, make_bad):
    if make_bad == "under_a_file":
        (tmp_path / "a_file").write_text("x")
        out = tmp_path / "a_file" / "corpora"
    else:
        out = Path("/proc/relhead-corpora")
    before = sorted(tmp_path.rglob("*"))
    code = main(["render", "--pipeline", "test", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"relhead: config error: --out {out}") and "cannot create or write there" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_sweep_unwritable_out_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    assert main(["sweep", "lighting-x-samples", "--out", str(tmp_path / "a_file")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot create or write there" in err and "\n" not in err


def test_sweeps_are_validated_like_pipelines(tmp_path):
    from relhead.config import resolve_sweep

    f = tmp_path / "p.yaml"
    f.write_text("pipelines:\n  a: {}\nsweeps:\n  s: {base: a, axes: {render.samples: []}}\n  t: {base: a, axes: {seed: [1]}, colour: red}\n")
    with pytest.raises(ConfigError, match="sweep 's': axes: axis 'render.samples' has no values"):
        resolve_sweep("s", path=f)
    with pytest.raises(ConfigError, match="sweep 't': colour: unknown key; allowed here: axes, base, description, set"):
        resolve_sweep("t", path=f)


def test_bad_parallel_options_are_config_errors(tmp_path, capsys):
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--workers 0" in err and "exclude each other" in err
    assert not list(tmp_path.iterdir())


def _good_and_bad_images(folder: Path, bad_name: str, bad: bytes) -> Path:
    """A folder holding one good PNG and one broken file `bad_name`."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(folder / "good.png")
    (folder / bad_name).write_bytes(bad)
    return folder


@pytest.mark.parametrize("key, sets, bad_name, bad, problem", [
    ("lighting.hdri_dir", ["lighting.hdris=user"], "sky.exr", b"<html>404</html>", "not an OpenEXR file"),
    ("lighting.hdri_dir", ["lighting.hdris=user"], "loft.hdr", b"\x00" * 64, "not a Radiance HDR file"),
    ("lighting.background_dir", ["lighting.image_background_fraction=0.5"], "street.jpg", b"\xff\xd8\xff\xe0 cut short",
     "not a readable image"),
    ("skin.albedo_dir", ["skin.albedo_fraction=0.5"], "skin.png", b"not a png", "not a readable image"),
])
def test_an_unreadable_asset_image_is_refused_before_anything_is_written(tmp_path, capsys, key, sets, bad_name, bad,
                                                                          problem):
    """HDRIs, background photos and skin textures are checked before the corpus folder is made:
    found once shards render, the manifest written by then would block the folder."""
    folder = _good_and_bad_images(tmp_path / "assets", bad_name, bad)
    if key == "lighting.hdri_dir":  # the HDRI pool scans only .exr/.hdr: the good one is a real EXR signature
        (folder / "good.png").unlink()
        (folder / "fine.exr").write_bytes(b"\x76\x2f\x31\x01" + b"\x00" * 60)
    out = tmp_path / "out"
    args = ["render", "--pipeline", "test", "--out", str(out), "--set", "head.model=fake", "--set", f"{key}={folder}"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"relhead: config error: {key}: {folder / bad_name}: {problem}") and err.count("\n") == 1, err
    assert not out.exists()
