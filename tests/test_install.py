"""A plain (non-editable) `pip install .` works from any folder (slow tier): the pipelines file ships
with the package, and `--config FILE` still overrides it."""

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_non_editable_install_renders_the_quickstart_from_another_folder(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # The dependencies (bpy, torch, anny: gigabytes) come from this environment's site-packages,
    # appended by a .pth line, which does not run that folder's own .pth files: this repository's
    # editable install stays invisible to the new environment.
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ into the tree it builds
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "data", "*.egg-info", "__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src]
    r = subprocess.run(build, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("relhead-*.whl"))
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", wheel], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    where = subprocess.run([py, "-c", "import relhead.config as c; print(c.__file__, c.PIPELINES_FILE)"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, check=True).stdout
    assert str(ROOT) not in where and "pipelines.yaml" in where
    relhead = env_dir / "bin" / "relhead"
    small = ["--set", "shards=1", "--set", "groups_per_shard=1", "--set", "views=2", "--set", "image.width=64",
             "--set", "image.height=64", "--set", "render.samples=1", "--set", "render.denoise=false"]
    r = subprocess.run([relhead, "render", "--pipeline", "quickstart", "--out", "data", *small],
                       capture_output=True, text=True, cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (elsewhere / "data" / "quickstart" / "shard-000000.tar").exists()
    (elsewhere / "mine.yaml").write_text("pipelines:\n  mine: {views: 2}\n")
    r = subprocess.run([relhead, "render", "--pipeline", "quickstart", "--out", "data", "--config", "mine.yaml"],
                       capture_output=True, text=True, cwd=elsewhere, env=env)
    assert r.returncode == 2 and "pipeline 'quickstart' not found; known: mine" in r.stderr
