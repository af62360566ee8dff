"""The sample format, the reader and verify on corpora made without bpy (fast tier): round trips,
and every kind of damaged shard named the same way by verify and the reader."""

import io
import json
import re
import shutil
import tarfile
import warnings

import numpy as np
import pytest
from PIL import Image

import configs
from relhead.cli import main
from relhead.datasets.manifest import read_manifest, refresh_manifest, sha256_file
from relhead.datasets.sample import SAMPLE_FORMAT, pack, unpack
from relhead.datasets.shards import CorruptShard, iter_groups, iter_pairs
from relhead.datasets.verify import verify_corpus
from relhead.frames import matrix_to_euler
from relhead.render.spec import GroupSpec
from synthetic import synthetic_group

def test_pack_unpack_round_trip(synthetic_cfg):
    rendered = synthetic_group(synthetic_cfg, 3)
    files = pack(rendered, synthetic_cfg)
    assert sorted(files) == ["meta.json", "pairs.json", "view0.mask.png", "view0.png", "view1.mask.png",
                             "view1.png", "view2.mask.png", "view2.png"]
    g = unpack("000000003", files)
    assert g.meta["format"] == SAMPLE_FORMAT and g.spec() == rendered.spec
    for i, v in enumerate(rendered.views):
        assert np.array_equal(g.image(i), v.rgb) and np.array_equal(g.mask(i), v.mask)
        m = g.views[i]
        assert np.array_equal(m["K"], v.labels.K) and np.array_equal(m["R"], v.labels.R)
        assert np.array_equal(m["landmarks"], v.labels.landmarks)
        assert tuple(m["euler_deg"].values()) == matrix_to_euler(v.labels.R)
    assert len(list(g.iter_pairs())) == 6 and all(p["key"] == "000000003" for p in g.iter_pairs())


def test_unpack_names_an_old_or_foreign_sample():
    with pytest.raises(ValueError, match="lacks meta.json"):
        unpack("000000001", {"view0.png": b""})
    old = {"meta.json": json.dumps({"group": 1, "views": []}).encode(), "pairs.json": b"{}"}
    with pytest.raises(ValueError, match="'relhead-sample/1'.*re-render"):
        unpack("000000001", old)


def test_meta_holds_the_whole_spec_and_no_host_path(synthetic_dir):
    g = next(iter_groups(sorted(synthetic_dir.glob("shard-*.tar"))))
    spec = GroupSpec.model_validate(g.meta["spec"])
    assert spec.lighting.hdri.source == "bundled" and len(spec.lighting.hdri.sha256) == 64
    text = json.dumps(g.meta) + (synthetic_dir / "manifest.json").read_text()
    assert "/" + "site-packages" not in text and str(synthetic_dir.parent) not in text


def test_synthetic_corpus_verifies_and_reads(synthetic_dir, synthetic_cfg):
    problems, warns = verify_corpus(synthetic_dir, progress=False)
    assert problems == [] and warns == []
    pairs = list(iter_pairs(sorted(synthetic_dir.glob("shard-*.tar"))))
    assert len(pairs) == synthetic_cfg.num_groups * synthetic_cfg.views * (synthetic_cfg.views - 1)


def _damaged_copy(corpus, tmp_path):
    out = tmp_path / "test"
    shutil.copytree(corpus, out)
    return out


def test_verify_names_a_truncated_shard_and_the_reader_fails_the_same_way(synthetic_dir, tmp_path, capsys):
    out = _damaged_copy(synthetic_dir, tmp_path)
    shard = out / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shard-000001.tar: size" in err and "truncated" in err and "shard-000000.tar" not in err
    with pytest.raises(CorruptShard, match=r"shard-000001\.tar: size .*truncated"):
        list(iter_groups(sorted(out.glob("shard-*.tar"))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = [g.key for g in iter_groups(sorted(out.glob("shard-*.tar")), on_corrupt="skip")]
    assert keys == ["000000000", "000000001"] and "shard-000001.tar" in str(caught[0].message)


def test_verify_names_an_altered_shard(synthetic_dir, tmp_path, capsys):
    out = _damaged_copy(synthetic_dir, tmp_path)
    shard = out / "shard-000000.tar"
    data = bytearray(shard.read_bytes())
    data[3000] ^= 0xFF  # same size, one byte changed
    shard.write_bytes(bytes(data))
    assert main(["verify", str(out), "--quick"]) == 1
    assert "shard-000000.tar: sha256" in capsys.readouterr().err


def test_reader_without_manifest_names_a_broken_tar(synthetic_dir, tmp_path):
    shard = tmp_path / "shard-000000.tar"
    src = (synthetic_dir / "shard-000000.tar").read_bytes()
    shard.write_bytes(src[: len(src) // 3])
    with pytest.raises(CorruptShard, match=r"shard-000000\.tar: unreadable"):
        list(iter_groups([shard]))


def _rewrite_meta(out, member, edit):
    """Change one group's meta.json and re-record the shard's hash, as a careless tool would."""
    shard = out / "shard-000000.tar"
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tar:
        for m, data in members:
            if m.name == member:
                meta = json.loads(data)
                edit(meta)
                data = json.dumps(meta).encode()
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    rec_path = out / "shard-000000.json"
    rec = json.loads(rec_path.read_text())
    rec["entry"].update(bytes=shard.stat().st_size, sha256=sha256_file(shard))
    rec_path.write_text(json.dumps(rec))
    refresh_manifest(out)


def _add_member(out, info: tarfile.TarInfo):
    """Append a member to shard 0 and re-record its hash, as a tool that repacks shards might."""
    shard = out / "shard-000000.tar"
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tar:
        for m, data in members:
            tar.addfile(m, io.BytesIO(data))
        tar.addfile(info)
    rec_path = out / "shard-000000.json"
    rec = json.loads(rec_path.read_text())
    rec["entry"].update(bytes=shard.stat().st_size, sha256=sha256_file(shard))
    rec_path.write_text(json.dumps(rec))
    refresh_manifest(out)


@pytest.mark.parametrize("kind, link, said", [(tarfile.SYMTYPE, "/etc/passwd", "a symbolic link to /etc/passwd"),
                                               (tarfile.LNKTYPE, "000000000.view0.png",
                                                "a hard link to 000000000.view0.png")])
def test_a_link_in_a_shard_is_corrupt_for_verify_preview_and_the_reader(synthetic_dir, tmp_path, capsys, kind, link, said):
    """relhead writes only regular files; webdataset's reader passes over links silently, so a shard
    holding one (its hash re-recorded) fails verify, quick or deep, and the reader, with one message."""
    out = _damaged_copy(synthetic_dir, tmp_path)
    info = tarfile.TarInfo("000000001.view3.png")
    info.type, info.linkname = kind, link
    _add_member(out, info)
    problem = f"shard-000000.tar: member 000000001.view3.png is {said}; relhead writes only regular files"
    for quick in ([], ["--quick"]):
        assert main(["verify", str(out), *quick]) == 1
        err = capsys.readouterr().err
        assert f"FAIL {problem}" in err and "shard-000001.tar" not in err
    with pytest.raises(CorruptShard, match=re.escape(problem)):
        list(iter_groups(sorted(out.glob("shard-*.tar"))))
    with pytest.raises(CorruptShard, match=re.escape(problem)):  # a shard with no manifest beside it
        list(iter_groups([out / "shard-000000.tar"], check_hash=False))
    png = tmp_path / "sheet.png"
    assert main(["preview", str(out), "--out", str(png)]) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1 and not png.exists()


def test_verify_checks_the_ground_truth_not_just_hashes(synthetic_dir, tmp_path, capsys):
    """A shard whose hash is re-recorded after its metadata was broken still fails: R not a
    rotation, a pair whose R_rel no longer matches the views, a spec that is not a spec."""
    out = _damaged_copy(synthetic_dir, tmp_path)

    def edit(meta):
        meta["views"][1]["R"] = (2 * np.asarray(meta["views"][1]["R"])).tolist()
        meta["spec"]["lighting"]["hdri"] = "/home/someone/sky.exr"

    _rewrite_meta(out, "000000001.meta.json", edit)
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shard-000000.tar: group 000000001: view 1: R is not a rotation" in err
    assert "do not carry the anchor pose to the query pose" in err
    assert "group 000000001: meta.json spec is not a valid scene spec" in err


def test_verify_refuses_a_folder_without_manifest(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 1
    assert "manifest.json: missing" in capsys.readouterr().err


def test_verify_names_a_manifest_that_is_not_json_or_whose_config_is_not_valid_here(synthetic_dir, tmp_path, capsys):
    """One FAIL line naming manifest.json, not a traceback: a manifest cut short, and one whose config
    names a head-model backend this installation lacks (a corpus made with a third-party backend)."""
    out = _damaged_copy(synthetic_dir, tmp_path)
    good = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(good[: len(good) // 2])
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FAIL {out / 'manifest.json'}: not a manifest (JSONDecodeError: ") and err.count("\n") == 1
    m = json.loads(good)
    m["config"]["head"]["model"] = "not-installed"
    (out / "manifest.json").write_text(json.dumps(m))
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FAIL {out / 'manifest.json'}: its config is not valid here: head.model: ") \
        and "not-installed" in err and err.count("\n") == 1


def test_manifest_records_the_config_as_data(synthetic_dir, synthetic_cfg):
    m = read_manifest(synthetic_dir)
    assert m["format"] == "relhead-corpus/2" and m["config_hash"] == synthetic_cfg.hash()
    assert m["config"]["lighting"]["hdri_dir"] is None and m["config"]["render"]["threads"] == 0
    assert [a["name"] for a in m["assets"]["hdris"]] == sorted(a["name"] for a in m["assets"]["hdris"])


def test_a_corpus_from_before_a_key_existed_still_verifies_and_is_not_resumed(synthetic_dir, synthetic_cfg, tmp_path,
                                                                          capsys):
    """A manifest written before `effects:` and the extra-light keys existed keeps its hash (taken
    over the config as written), and its config loads with them off, which is what it rendered."""
    from relhead.config import PipelineConfig, config_hash

    out = _damaged_copy(synthetic_dir, tmp_path)
    m = json.loads((out / "manifest.json").read_text())
    old = m["config"]
    old.pop("effects")
    old["lighting"] = {k: v for k, v in old["lighting"].items() if not k.startswith(("light_", "area_"))}
    m["config_hash"] = config_hash(old)
    (out / "manifest.json").write_text(json.dumps(m, indent=1))
    assert verify_corpus(out, progress=False) == ([], [])
    cfg = PipelineConfig.model_validate(old)
    assert cfg.effects.fraction == 0 and cfg.effects.defocus_fraction == 0 and cfg.lighting.light_count == (0, 0)
    # Rendering into it with this version is refused: its samples would differ (new spec fields).
    sets = [a for kv in configs.SYNTHETIC for a in ("--set", kv)]
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path), *sets]) == 2
    assert f"holds a corpus of another config (hash {m['config_hash']}, this one {synthetic_cfg.hash()})" \
        in capsys.readouterr().err
    assert m["config_hash"] == config_hash({**old, "name": "x"}) != synthetic_cfg.hash()


def test_preview_grid_of_first_views(synthetic_dir, tmp_path):
    png = tmp_path / "grid.png"
    assert main(["preview", str(synthetic_dir), "--out", str(png), "--groups", "3", "--grid", "--plain"]) == 0
    img = np.asarray(Image.open(png))
    assert img.shape == (2 * 192, 2 * 192, 3)  # 3 groups in a 2 x 2 grid, the last cell empty
    assert img[:192, :192].std() > 5 and img[192:, 192:].max() == 0
    rows = tmp_path / "rows.png"
    assert main(["preview", str(synthetic_dir), "--out", str(rows), "--groups", "2"]) == 0
    assert np.asarray(Image.open(rows)).shape == (2 * 192, 3 * 192, 3)  # 2 groups x 3 views, labelled


def test_preview_sweep_sheet_has_a_row_per_corpus(tmp_path):
    from PIL import Image

    from relhead.cli import main
    from relhead.config import resolve
    from synthetic import synthetic_corpus

    for name, width in (("000_a", 0.9), ("001_b", 1.1)):
        cfg = resolve("test", ["head.model=fake", "groups_per_shard=3", "views=2", "image.width=64", "image.height=64",
                               f"head.width_scale=[{width},{width}]"])
        synthetic_corpus(cfg, tmp_path / "sweep" / name)
    (tmp_path / "sweep" / "not-a-corpus").mkdir()
    png = tmp_path / "s.png"
    assert main(["preview", str(tmp_path / "sweep"), "--sweep", "--groups", "4", "--out", str(png)]) == 0
    img = np.asarray(Image.open(png))
    assert img.shape == (2 * 160, 4 * 160, 3)
    assert img[:, 3 * 160:].max() == 0 and img[:, :3 * 160].std() > 10  # 3 groups, then an empty cell
    assert not np.array_equal(img[:160, :480], img[160:, :480])  # the rows differ along the sweep's axis
    assert main(["preview", str(tmp_path / "sweep" / "not-a-corpus"), "--sweep"]) == 2


def test_a_closed_pipe_ends_the_cli_quietly(monkeypatch, tmp_path):
    """`relhead sweep NAME --dry-run | head -1`: the reader goes away and the CLI stops, no traceback."""
    import io
    import os
    import sys

    from relhead.cli import main

    read, write = os.pipe()
    os.close(read)  # the reader has gone
    out = io.TextIOWrapper(os.fdopen(write, "wb"), line_buffering=True)
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["sweep", "lights", "--out", str(tmp_path / "never"), "--dry-run"]) == 0
    assert not (tmp_path / "never").exists()
