"""The last unclean inputs (issue 29, section 2), fed through the real command line: each is exit 2 (1
for verify's findings) with one stderr line naming the file, key or option, no traceback, and nothing
left behind that blocks the same command once the input is fixed. Fast tier unless marked: the corpora
are the fake head's, written without bpy (tests/synthetic.py); renders splat instead of calling Blender."""

import json
import shutil

import pytest

import configs
from relhead.cli import main
from relhead.config import MAX_GROUPS_PER_SHARD, MAX_SHARDS, resolve

TINY = sum((["--set", s] for s in configs.TINY_TRAINING), [])
SYNTHETIC = sum((["--set", s] for s in configs.SYNTHETIC), [])


def one_line(capsys, *needles: str) -> str:
    """The single stderr line of a failed command (no traceback), holding every needle."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("relhead: ") and "\n" not in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture
def splat(monkeypatch):
    """`relhead render` draws groups with the synthetic splatter instead of Blender."""
    import relhead.render.group
    import synthetic

    monkeypatch.setattr(relhead.render.group, "render_group", lambda cfg, spec, hm, files: synthetic.splat_group(cfg, spec, hm))


@pytest.fixture(scope="module")
def run(train_corpus, tmp_path_factory):
    """A 2-step toy run on the training tests' corpus."""
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--data", str(train_corpus), "--out", str(out), "--set", "steps=2", *TINY]) == 0
    return out


# ------------------------------------------------------------------------ 1. a config asking for too much
@pytest.mark.parametrize("key, value, most", [("shards", 10**12, MAX_SHARDS),
                                              ("groups_per_shard", MAX_GROUPS_PER_SHARD + 1, MAX_GROUPS_PER_SHARD)])
def test_a_corpus_bigger_than_the_bounds_is_refused_before_anything_is_written(tmp_path, capsys, key, value, most):
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--set", "head.model=fake",
                 "--set", f"{key}={value}"]) == 2
    one_line(capsys, f"{key}: at most {most:,}", f"(got {value})")
    assert not (tmp_path / "out").exists()
    assert resolve("test", [f"{key}={most}"]).model_dump()[key] == most  # the bound itself is allowed
