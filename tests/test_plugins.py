"""A head-model backend from another distribution is found through its entry point (group
`relhead.head_models`), as a user's plugin would be: a `.dist-info` folder on the path of a fresh
`relhead` process names the tests' fake head, and a broken one is one line naming it."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _install(site: Path, name: str, target: str) -> None:
    """What `pip install` of a distribution declaring the entry point leaves behind."""
    info = site / f"relhead_plugin_{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: relhead-plugin-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[relhead.head_models]\n{name} = {target}\n")


def _relhead(site: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(TESTS)])}
    return subprocess.run([sys.executable, "-m", "relhead.cli", *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_plugin_backend_is_found_by_its_entry_point(tmp_path):
    site = tmp_path / "site"
    # the fake head's own section (segments) is what validates `head.`: the plugin's config, not Anny's
    r = _relhead(site, tmp_path, "render", "--pipeline", "test", "--out", "out", "--set", "head.model=fake",
                 "--set", "head.segmnts=8")
    assert r.returncode == 2 and "unknown head-model backend 'fake'" in r.stderr, r.stderr
    _install(site, "fake", "fake_head:BACKEND")
    r = _relhead(site, tmp_path, "render", "--pipeline", "test", "--out", "out", "--set", "head.model=fake",
                 "--set", "head.segmnts=8")
    assert r.returncode == 2 and "head.segmnts" in r.stderr and "segments" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_broken_plugin_is_one_line_naming_it(tmp_path):
    site = tmp_path / "site"
    _install(site, "mine", "no_such_module_here:BACKEND")
    _install(site, "fake", "fake_head:BACKEND")
    r = _relhead(site, tmp_path, "render", "--pipeline", "test", "--out", "out", "--set", "head.model=mine")
    assert r.returncode == 2, r.stderr
    assert "'mine'" in r.stderr and "no_such_module_here" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    # a plugin no config names is never loaded: the fake head beside it, and Anny, are untouched by it
    r = _relhead(site, tmp_path, "render", "--pipeline", "test", "--out", "out", "--set", "head.model=fake",
                 "--set", "head.segmnts=8")
    assert r.returncode == 2 and "segments" in r.stderr and "no_such_module_here" not in r.stderr, r.stderr
    r = _relhead(site, tmp_path, "render", "--pipeline", "test", "--out", "out", "--set", "shards=0")
    assert r.returncode == 2 and "no_such_module_here" not in r.stderr, r.stderr
