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
        (["render.sampels=4"], "render.sampels: unknown key; allowed here: adaptive_threshold, denoise"),
        (["render.samples=many"], "render.samples: Input should be a valid integer"),
        (["render.samples=-3"], "render.samples: Input should be greater than or equal to 1"),
        (["render.engine=povray"], "render.engine: Input should be 'cycles', 'eevee' or 'workbench'"),
        (["pose.yaw_deg=[30,-30]"], "pose: yaw_deg: [min, max] needs min <= max"),
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
    with pytest.raises(ConfigError, match="pipeline 'nope' not found; known: paper, quickstart"):
        resolve("nope")


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
    ],
)
def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, args):
    out = tmp_path / "out"
    code = main(["render", "--pipeline", "quickstart", "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("relhead: config error: ") and "\n" not in err
    assert not out.exists()
