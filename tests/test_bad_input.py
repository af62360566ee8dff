"""The last unclean inputs (issue 29, section 2), fed through the real command line: each is exit 2 (1
for verify's findings) with one stderr line naming the file, key or option, no traceback, and nothing
left behind that blocks the same command once the input is fixed. Fast tier unless marked: the corpora
are the fake head's, written without bpy (tests/synthetic.py); renders splat instead of calling Blender."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

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
def test_a_config_the_head_model_cannot_render_is_one_line_and_leaves_nothing_in_the_way(tmp_path, capsys, splat):
    """Found while sampling the first group (a part the config asks for needs what the head model lacks): one
    line naming the key, and no corpus folder left, which would refuse the corrected config as another config's."""
    base = ["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--set", "head.model=fake",
            "--set", "image.width=64", "--set", "image.height=64"]
    assert main(base + ["--set", "render.skin_shader=mpfb"]) == 2
    err = capsys.readouterr().err.replace("\r", "\n").splitlines()
    lines = [x for x in err if x.strip() and not re.search(r"\| *\d+/\d+ \[", x)]  # without the progress bar
    assert len(lines) == 1 and lines[0].startswith("relhead: config error: render.skin_shader") and "'fake'" in lines[0]
    assert tree(tmp_path / "out") == []
    assert main(base) == 0
    assert (tmp_path / "out" / "test" / "manifest.json").exists()


@pytest.mark.parametrize("key, value, most", [("shards", 10**12, MAX_SHARDS),
                                              ("groups_per_shard", MAX_GROUPS_PER_SHARD + 1, MAX_GROUPS_PER_SHARD)])
def test_a_corpus_bigger_than_the_bounds_is_refused_before_anything_is_written(tmp_path, capsys, key, value, most):
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--set", "head.model=fake",
                 "--set", f"{key}={value}"]) == 2
    one_line(capsys, f"{key}: at most {most:,}", f"(got {value})")
    assert not (tmp_path / "out").exists()
    assert resolve("test", [f"{key}={most}"]).model_dump()[key] == most  # the bound itself is allowed


# ------------------------------------------------------------------------ 2. eval --out, checked before the work
def test_eval_out_is_checked_before_the_evaluation_and_missing_folders_are_made(run, tmp_path, capsys, monkeypatch):
    import relhead.train.eval as ev

    real = ev.evaluate
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("evaluated before --out was checked"))
    before = tree(run)
    (tmp_path / "a-file").write_text("")
    for out, needles in ((tmp_path, ("--out", str(tmp_path), "is a folder")),
                         (tmp_path / "a-file" / "x.json", ("--out", "a-file is a file, not a folder"))):
        assert main(["eval", "--checkpoint", str(run), "--out", str(out)]) == 2
        one_line(capsys, *needles)
        assert main(["eval", "--checkpoint", str(run), "--biwi", str(tmp_path / "nosuch"), "--out", str(out)]) == 2
        one_line(capsys, *needles)
    assert main(["eval", "--checkpoint", str(run), "--out", str(run)]) == 2  # the run folder itself
    one_line(capsys, "--out", "is a folder")
    assert tree(run) == before and tree(tmp_path) == ["a-file"]
    monkeypatch.setattr(ev, "evaluate", real)
    out = tmp_path / "missing" / "parent" / "x.json"
    assert main(["eval", "--checkpoint", str(run), "--out", str(out)]) == 0
    assert "relative" in json.loads(out.read_text()) and tree(tmp_path / "missing") == ["parent", "parent/x.json"]


# ------------------------------------------------------------------------ 3. a folder where a file belongs
def test_report_out_and_render_config_that_are_folders_are_one_line(run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    assert main(["eval", "--checkpoint", str(folder)]) == 0
    before = tree(tmp_path)
    assert main(["report", str(folder), "--out", str(tmp_path)]) == 2
    one_line(capsys, f"--out {tmp_path}: is a folder")
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--config", str(tmp_path)]) == 2
    one_line(capsys, f"{tmp_path}: is a folder", "pipelines.yaml")
    (tmp_path / "bin.yaml").write_bytes(bytes(range(128, 256)))
    assert main(["render", "--pipeline", "test", "--out", str(tmp_path / "out"), "--config", str(tmp_path / "bin.yaml")]) == 2
    one_line(capsys, "bin.yaml: cannot be read as a YAML file")
    assert tree(tmp_path) == sorted(before + ["bin.yaml"])
    out = tmp_path / "new" / "r.html"
    assert main(["report", str(folder), "--out", str(out)]) == 0 and out.stat().st_size > 0


# ------------------------------------------------------------------------ 4. preview --groups
@pytest.mark.parametrize("groups", ["0", "-3"])
def test_preview_groups_below_one_is_one_line(synthetic_dir, tmp_path, capsys, groups):
    out = tmp_path / "sheet.png"
    for extra in ([], ["--grid"], ["--sweep"]):
        target = synthetic_dir.parent if extra == ["--sweep"] else synthetic_dir
        assert main(["preview", str(target), "--out", str(out), f"--groups={groups}", *extra]) == 2
        one_line(capsys, f"--groups {groups}: must be >= 1")
    assert tree(tmp_path) == []


# ------------------------------------------------------------------------ 5. manifest.json that is not JSON
@pytest.mark.parametrize("bad", ["{cut", "", "[1, 2]"])
def test_render_rebuilds_a_manifest_that_is_not_one_from_the_shard_records(synthetic_dir, tmp_path, capsys, splat, bad):
    corpus = tmp_path / "out" / "test"
    shutil.copytree(synthetic_dir, corpus)
    (corpus / "manifest.json").write_text(bad)
    render = ["render", "--pipeline", "test", "--out", str(tmp_path / "out"), *SYNTHETIC]
    assert main(render + ["--set", "views=4"]) == 2  # the records are not this config's: refused, nothing changed
    one_line(capsys, "manifest.json is not a manifest", "shard-000000.json: groups [0, 2], 6 views; this config's "
             "shard 0: groups [0, 2], 8 views")
    assert (corpus / "manifest.json").read_text() == bad
    assert main(render) == 0
    out = capsys.readouterr().out
    assert f"{corpus / 'manifest.json'} was not a manifest (" in out and "rebuilt it from the 2 shard record(s)" in out
    assert (corpus / "manifest.json").read_bytes() == (synthetic_dir / "manifest.json").read_bytes()
    assert main(["verify", str(corpus)]) == 0


def test_other_commands_on_a_manifest_that_is_not_json_are_one_line(synthetic_dir, run, tmp_path, capsys):
    corpus = tmp_path / "test"
    shutil.copytree(synthetic_dir, corpus)
    (corpus / "manifest.json").write_text("{cut")
    needle = f"{corpus / 'manifest.json'}: not a manifest (JSONDecodeError"
    for args in (["train", "--data", str(corpus), "--out", str(tmp_path / "r"), *TINY],
                 ["eval", "--checkpoint", str(run), "--data", str(corpus), "--out", str(tmp_path / "e.json")],
                 ["preview", str(corpus), "--out", str(tmp_path / "p.png")],
                 ["export", "--format", "coco", str(corpus), str(tmp_path / "coco")]):
        assert main(args) == 2, args
        one_line(capsys, needle)
    assert main(["verify", str(corpus)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"FAIL {needle}") and "rebuilds it from the shard records" in err and "\n" not in err, err
    assert tree(tmp_path) == ["test"] + [f"test/{p}" for p in tree(corpus)]


# ------------------------------------------------------------------------ 6. verify on a manifest's own keys
@pytest.mark.parametrize("case, finding", [
    ("no shards", "manifest.json: no shard list ('shards' missing); rendering into the folder again"),
    ("shards a list", "manifest.json: 'shards' is a JSON list, not a mapping of shard index to entry"),
    ("views_per_group three", "manifest.json: views_per_group 'three', the config says 3"),
    ("groups_per_shard 3", "manifest.json: groups_per_shard 3, the config says 2"),
    ("a shard too many", "manifest.json: 'shards' lists '7', not shards of this corpus (2 shards)"),
    ("an entry that is none", "manifest.json: shards['1'] is not an entry for shard-000001.tar (3)"),
    ("no config_hash", "manifest.json: config_hash None does not match its config")])
def test_verify_finds_a_manifest_whose_own_keys_are_wrong(synthetic_dir, tmp_path, capsys, case, finding):
    corpus = tmp_path / "test"
    shutil.copytree(synthetic_dir, corpus)
    m = json.loads((corpus / "manifest.json").read_text())
    if case == "no shards":
        del m["shards"]
    elif case == "shards a list":
        m["shards"] = list(m["shards"].values())
    elif case == "views_per_group three":
        m["views_per_group"] = "three"
    elif case == "groups_per_shard 3":
        m["groups_per_shard"] = 3
    elif case == "a shard too many":
        m["shards"]["7"] = m["shards"]["1"]
    elif case == "an entry that is none":
        m["shards"]["1"] = 3
    else:
        del m["config_hash"], m["versions"]
    (corpus / "manifest.json").write_text(json.dumps(m))
    before = tree(tmp_path)
    assert main(["verify", str(corpus)]) == 1
    out, err = capsys.readouterr()
    fails = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("FAIL ")]  # not the progress bar
    assert "Traceback" not in err and fails[0].startswith(f"FAIL {finding}"), err
    assert out.strip() == f"{corpus}: FAILED, {len(fails)} problem(s)"
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------ 8. one corpus given twice
def test_the_same_corpus_given_twice_is_refused(train_corpus, run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(train_corpus.parent)
    out = tmp_path / "r"
    for twice in ([str(train_corpus), str(train_corpus)], [str(train_corpus), f"./{train_corpus.name}/"]):
        assert main(["train", "--data", twice[0], "--data", twice[1], "--out", str(out), *TINY]) == 2
        one_line(capsys, f"--data {train_corpus.name if twice[1].startswith('.') else train_corpus}: given twice",
                 f"the same corpus as --data {train_corpus}")
        assert main(["eval", "--checkpoint", str(run), "--data", twice[0], "--data", twice[1],
                     "--out", str(tmp_path / "e.json")]) == 2
        one_line(capsys, "given twice")
    assert tree(tmp_path) == []


# ------------------------------------------------------------------------ 9. a failed start leaves nothing
def test_a_shard_of_random_bytes_vouched_for_stops_training_before_anything_is_written(train_corpus, tmp_path, capsys):
    import hashlib

    import numpy as np

    corpus = tmp_path / "fake"
    shutil.copytree(train_corpus, corpus)
    shard = corpus / "shard-000001.tar"
    good = shard.read_bytes()

    def vouch(data):  # the manifest vouches for the shard as it is (size, sha256)
        shard.write_bytes(data)
        m = json.loads((corpus / "manifest.json").read_text())
        m["shards"]["1"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        (corpus / "manifest.json").write_text(json.dumps(m))

    vouch(np.random.default_rng(0).integers(0, 256, len(good), dtype=np.uint8).tobytes())
    out, args = tmp_path / "run", ["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--set", "steps=2", *TINY]
    for _ in range(2):  # the same command, the same line: nothing was left to refuse it with "already exists"
        assert main(args) == 2
        one_line(capsys, f"{shard}: unreadable")
        assert not out.exists()
    vouch(good)
    assert main(args) == 0 and (out / "checkpoint").is_dir()


# ------------------------------------------------------------------------ 10. predict --anchor-pose range
def test_anchor_pose_angles_outside_a_sane_range_are_refused(run, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(img)
    base = ["predict", "--checkpoint", str(run), "--anchor", str(img), "--query", str(img),
            "--anchor-box", "full", "--query-box", "full", "--anchor-pose"]
    for pose in ("1e300,0,0", "0,-181,0", "0,0,720"):
        assert main(base + [pose]) == 2
        one_line(capsys, f"--anchor-pose '{pose}': each must lie within [-180, 180]")
    assert main(base + ["180,-90,-180"]) == 0
    assert "query" in json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------ 11. preview says what it skipped
def test_preview_says_which_shards_it_skipped(synthetic_dir, tmp_path, capsys):
    def corpus(name, edit=None, drop=None):
        folder = tmp_path / name
        shutil.copytree(synthetic_dir, folder)
        if edit:
            m = json.loads((folder / "manifest.json").read_text())
            edit(m)
            (folder / "manifest.json").write_text(json.dumps(m))
        if drop:
            (folder / drop).unlink()
        return folder

    def todo(m):
        for e in m["shards"].values():
            e["status"] = "todo"

    all_todo, missing = corpus("todo", edit=todo), corpus("missing", drop="shard-000001.tar")
    sheet = tmp_path / "sheets" / "p.png"
    assert main(["preview", str(all_todo), "--out", str(sheet)]) == 2  # nothing to draw: one line, nothing written
    one_line(capsys, f"{all_todo}: no finished shard to draw (skipped {all_todo}/shard-000000.tar (not recorded as "
             "done in the manifest: unverified); ")
    assert not (tmp_path / "sheets").exists()
    assert main(["preview", str(missing), "--out", str(sheet)]) == 0  # drew shard 0, and says shard 1 is missing
    out, err = capsys.readouterr()
    assert out.strip() == str(sheet) and sheet.stat().st_size > 0
    assert err.strip() == f"relhead: preview: skipped {missing}/shard-000001.tar (missing; the manifest lists it as done)"
    unmade = corpus("unmade", edit=lambda m: m["shards"]["1"].update(status="todo"), drop="shard-000001.tar")
    assert main(["preview", str(unmade), "--out", str(sheet), "--grid"]) == 0
    assert capsys.readouterr().err.strip() == f"relhead: preview: skipped 1 shard(s) of {unmade} (not made yet)"
    assert main(["preview", str(tmp_path), "--sweep", "--out", str(sheet)]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("relhead: preview: skipped ") and "\n" not in err
    assert err.count("(not recorded as done") == 2 and "missing/shard-000001.tar (missing" in err
    assert main(["preview", str(synthetic_dir), "--out", str(sheet)]) == 0 and capsys.readouterr().err == ""


# ------------------------------------------------------------------------ 12. report right after training
def test_report_of_a_run_without_evaluation_shows_what_it_has_and_takes_evaluations_from_elsewhere(run, tmp_path,
                                                                                                   capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns("eval*.json", "report.html"))
    assert main(["report", str(folder)]) == 0
    out, err = capsys.readouterr()
    page = (folder / "report.html").read_text()
    assert out.strip() == str(folder / "report.html")
    assert err.strip() == (f"relhead: report: no evaluation yet: `relhead eval --checkpoint {folder}` writes "
                           f"{folder / 'eval.json'} (its held-out groups; --biwi DIR: {folder / 'eval_biwi.json'}), "
                           f"which the next `relhead report {folder}` shows; an evaluation written elsewhere "
                           "(eval --out FILE) is added with --eval FILE")
    assert "no evaluation yet" in page and 'alt="learning curves"' in page and "training config" in page
    assert "<h3>" not in page  # no evaluation section
    elsewhere = tmp_path / "evals" / "held-out.json"
    assert main(["eval", "--checkpoint", str(folder), "--out", str(elsewhere)]) == 0
    capsys.readouterr()
    sheet = tmp_path / "r.html"
    for _ in range(2):  # --eval given twice is shown once
        assert main(["report", str(folder), "--out", str(sheet), "--eval", str(elsewhere), "--eval", str(elsewhere)]) == 0
        assert capsys.readouterr().err == ""
        page = sheet.read_text()
        assert page.count(f"<h3>{elsewhere}: pairs of ") == 1 and "no evaluation yet" not in page
        assert 'alt="anchor ' in page  # the gallery of its worst pairs
    before = tree(tmp_path)
    for bad, needle in ((tmp_path / "nosuch.json", f"--eval {tmp_path / 'nosuch.json'}: no such file"),
                        (folder / "config.json", f"{folder / 'config.json'}: not an evaluation")):
        assert main(["report", str(folder), "--out", str(tmp_path / "x.html"), "--eval", str(bad)]) == 2
        one_line(capsys, needle)
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------ 7. Ctrl-C
TESTS = Path(__file__).resolve().parent
# `relhead` with Blender's render of a group replaced by the splatter, slowed to half a second a group so
# that a signal lands mid-render.
SLOW_RELHEAD = """
import sys, time
import fake_head; fake_head.register()
import synthetic
import relhead.render.group
relhead.render.group.render_group = lambda cfg, spec, hm, files: (time.sleep(0.5), synthetic.splat_group(cfg, spec, hm))[1]
from relhead.cli import main
sys.exit(main(sys.argv[1:]))
"""
BAR = re.compile(r"\|[^|]*\| *\d+/\d+ \[")  # a tqdm frame


def messages(err: str) -> list[str]:
    return [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and not BAR.search(ln)]


def interrupt(cmd: list[str], ready, env=None, after: float = 0.3, timeout: float = 900) -> tuple[int, list[str]]:
    """Run `cmd` in its own process group, send the group SIGINT (what Ctrl-C in a terminal does) once
    `ready(stderr lines so far)` holds, plus `after` seconds; (exit code, stderr lines without progress bars)."""
    # SIGINT as a terminal leaves it: a shell without job control starts its background jobs (a CI
    # runner's, `cmd &` in a script) with SIGINT ignored, which the command would inherit and keep
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines, deadline = [], time.time() + timeout
    try:
        if ready.__code__.co_argcount:  # waits on what the command says
            for line in proc.stderr:
                lines.append(line)
                if ready(lines) or time.time() > deadline:
                    break
        else:
            while not ready() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
        time.sleep(after)
        assert proc.poll() is None, "the command ended before it was interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, messages("".join(lines) + err)


def test_ctrl_c_in_any_command_is_one_line(synthetic_dir, capsys, monkeypatch):
    import relhead.datasets.verify

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(relhead.datasets.verify, "verify_corpus", stop)
    assert main(["verify", str(synthetic_dir)]) == 128 + signal.SIGINT
    assert capsys.readouterr().err == "relhead: stopped by Ctrl-C (SIGINT)\n"


@pytest.mark.slow  # a subprocess: seconds
def test_ctrl_c_during_render_is_one_line_and_the_same_command_resumes(tmp_path):
    script = tmp_path / "relhead_slow.py"
    script.write_text(SLOW_RELHEAD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)}
    sets = ["head.model=fake", "shards=4", "groups_per_shard=2", "views=2", "image.width=64", "image.height=64"]
    cmd = [sys.executable, str(script), "render", "--pipeline", "test", "--out", str(tmp_path / "out"),
           *sum((["--set", s] for s in sets), [])]
    corpus = tmp_path / "out" / "test"
    rc, lines = interrupt(cmd, lambda: (corpus / "shard-000000.json").exists(), env=env)
    assert rc == 128 + signal.SIGINT, lines
    assert len(lines) == 1 and re.fullmatch(
        rf"relhead: stopped by Ctrl-C \(SIGINT\) rendering {re.escape(str(corpus))}: [1-3] of 4 shard\(s\) are done and "
        r"kept, unfinished shards were removed; run the same command again to resume", lines[0]), lines
    hidden = [p.name for p in corpus.iterdir() if p.name.startswith(".") and p.name != ".manifest.lock"]
    assert hidden == []  # no partial shard, lease or temporary file
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "already done and verified; skipping them" in r.stdout, r.stderr[-2000:]
    assert subprocess.run([sys.executable, "-c", "import fake_head, sys; fake_head.register(); from relhead.cli import "
                           f"main; sys.exit(main(['verify', {str(corpus)!r}]))"], env=env).returncode == 0


def test_a_cut_short_anny_cache_file_is_found_and_removed(tmp_path):
    import torch
    from anny.models.model_data import CURRENT_DATA_VERSION
    from safetensors.torch import save_file

    from relhead.assets.anny_head import remove_unfinished_cache_files, safetensors_complete

    folder = tmp_path / f"v{CURRENT_DATA_VERSION}"
    folder.mkdir()
    start = time.time()
    for name in ("load_data_a.safetensors", "build_model_data_b.safetensors"):
        save_file({"x": torch.arange(1000.0), "y": torch.ones(3, 4)}, str(folder / name))
    whole = (folder / "build_model_data_b.safetensors").read_bytes()
    (folder / "build_model_data_b.safetensors").write_bytes(whole[: len(whole) - 100])  # the write was stopped
    assert safetensors_complete(folder / "load_data_a.safetensors")
    assert not safetensors_complete(folder / "build_model_data_b.safetensors")
    assert remove_unfinished_cache_files(tmp_path, start) == [folder / "build_model_data_b.safetensors"]
    assert sorted(p.name for p in folder.iterdir()) == ["load_data_a.safetensors"]


@pytest.mark.slow  # Anny's import and the start of its cache build: a minute
def test_ctrl_c_during_annys_first_cache_build_is_one_line_and_leaves_no_cut_short_file(tmp_path):
    from relhead.assets.anny_head import safetensors_complete

    cache = tmp_path / "anny-cache"
    env = {**os.environ, "ANNY_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "relhead.cli", "render", "--pipeline", "test", "--out", str(tmp_path / "out"),
           "--set", "shards=1", "--set", "groups_per_shard=1", "--set", "views=2"]
    rc, lines = interrupt(cmd, lambda seen: "building Anny's model cache" in seen[-1], env=env, after=5)
    assert rc == 128 + signal.SIGINT, lines
    assert lines[0].startswith(f"relhead: building Anny's model cache in {cache}"), lines
    assert len(lines) == 2 and lines[1].startswith(
        f"relhead: stopped by Ctrl-C (SIGINT) while building Anny's model cache in {cache}") and lines[1].endswith(
        f"rendering {tmp_path / 'out' / 'test'}: 0 of 1 shard(s) are done and kept, unfinished shards were removed; "
        "run the same command again to resume"), lines
    assert all(safetensors_complete(p) for p in cache.rglob("*.safetensors"))
