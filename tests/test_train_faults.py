"""Training, evaluation and prediction on bad input and faults (fast tier): a failed start leaves nothing
(or a run --resume accepts), corrupt or mismatched weights are one line, a resume changes nothing until
it is known to work, a finished run is left alone, signals stop training with a checkpoint, and
predict's numbers and image sizes are checked."""

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

import configs
from relhead.cli import main

SETS = sum((["--set", s] for s in configs.TINY_TRAINING), [])


@pytest.fixture(scope="module")
def run(train_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--data", str(train_corpus), "--out", str(out), "--set", "steps=2", *SETS]) == 0
    return out


def one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.startswith("relhead: ") and "\n" not in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rewrite_manifest_entry(corpus, shard):
    """Make the manifest vouch for a shard as it now is (as if it had been written so)."""
    m = json.loads((corpus / "manifest.json").read_text())
    entry = next(e for e in m["shards"].values() if e["file"] == shard.name)
    entry["bytes"], entry["sha256"] = shard.stat().st_size, hashlib.sha256(shard.read_bytes()).hexdigest()
    (corpus / "manifest.json").write_text(json.dumps(m))


# ---------------------------------------------------------------------------------- failed starts
@pytest.mark.parametrize("damage", ["truncated", "byte-flipped"])
def test_a_corrupt_shard_stops_training_before_anything_is_written(train_corpus, tmp_path, capsys, damage):
    bad = tmp_path / "fake"
    shutil.copytree(train_corpus, bad)
    shard = bad / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    out = tmp_path / "run"
    assert main(["train", "--data", str(bad), "--out", str(out), *SETS]) == 2
    one_line(capsys, "shard-000001.tar: ", "size" if damage == "truncated" else "sha256")
    assert not out.exists()


def test_a_shard_that_breaks_while_training_leaves_nothing_and_the_same_command_runs_once_fixed(train_corpus, tmp_path,
                                                                                               capsys):
    """A shard whose hash is right but whose content is not (a member named ../x) fails only when it is
    read, after the run folder was made: a start that fails before its first checkpoint removes it, so the
    same command runs once the shard is fixed."""
    bad = tmp_path / "fake"
    shutil.copytree(train_corpus, bad)
    shard = bad / "shard-000001.tar"
    good = shard.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(good)) as src, tarfile.open(shard, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        evil = tarfile.TarInfo("../evil.json")
        evil.size = 2
        dst.addfile(evil, io.BytesIO(b"{}"))
    rewrite_manifest_entry(bad, shard)
    out = tmp_path / "run"
    args = ["train", "--data", str(bad), "--out", str(out), "--set", "steps=4", *SETS]
    assert main(args) == 2
    one_line(capsys, "shard-000001.tar")
    assert not out.exists()
    out.mkdir()  # an empty folder given as --out stays, emptied again
    assert main(args) == 2
    one_line(capsys, "shard-000001.tar")
    assert out.is_dir() and not any(out.iterdir())
    shard.write_bytes(good)
    rewrite_manifest_entry(bad, shard)
    assert main(args) == 0
    steps = [json.loads(ln)["step"] for ln in (out / "metrics.jsonl").read_text().splitlines() if "loss" in ln]
    assert steps == [1, 2, 3, 4]


# ------------------------------------------------------------------------------ weights that don't fit
def test_corrupt_or_mismatched_weights_are_one_line(run, train_corpus, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    weights = broken / "checkpoint" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((48, 48, 3), np.uint8)).save(img)
    predict = ["predict", "--anchor", str(img), "--query", str(img), "--anchor-box", "full", "--query-box", "full"]
    for cmd in (["eval", "--checkpoint", str(broken), "--out", str(tmp_path / "e.json")],
                predict + ["--checkpoint", str(broken)]):
        assert main(cmd) == 2
        one_line(capsys, "model.safetensors", "cannot read")
    assert not (tmp_path / "e.json").exists()
    assert main(["train", "--data", str(train_corpus), "--out", str(tmp_path / "r"), "--init", str(weights),
                 "--set", "finetune=full", *SETS]) == 2
    one_line(capsys, "--init", "model.safetensors")
    assert not (tmp_path / "r").exists()

    other = tmp_path / "other"  # another model size's weights in the run
    shutil.copytree(run, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["config"]["model"]["overrides"]["embed_dim"] = 64
    (other / "config.json").write_text(json.dumps(cfg))
    assert main(["eval", "--checkpoint", str(other), "--out", str(tmp_path / "e.json")]) == 2
    one_line(capsys, "model.safetensors", "does not fit the model: shape mismatch")


def test_resume_with_another_model_size_changes_nothing(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = snapshot(copy)
    assert main(["train", "--out", str(copy), "--resume", "--set", "steps=4",
                 "--set", "model.overrides={embed_dim: 64, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2, "
                 "cnn_width: 8}"]) == 2
    one_line(capsys, "--resume", "another model size")
    assert snapshot(copy) == before


def test_resume_of_a_finished_run_says_so_and_changes_nothing(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = snapshot(copy)
    capsys.readouterr()
    assert main(["train", "--out", str(copy), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "finished at step 2" in out and "nothing to do" in out and "nan" not in out
    assert snapshot(copy) == before


# ---------------------------------------------------------------------------------------- signals
@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_training_with_a_checkpoint_and_resume_goes_on(train_corpus, tmp_path, sig):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "relhead.cli", "train", "--data", str(train_corpus), "--out", str(out),
           "--set", "steps=100000", "--set", "checkpoint_every=0", *SETS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    log = (out / "log.txt").read_text()
    stopped = log.strip().splitlines()[-1]
    assert stopped.startswith(f"stopped by {sig.name} at step ") and "--resume` continues" in stopped, log
    step = int(stopped.split(" at step ")[1].split(";")[0])
    import torch

    assert torch.load(out / "checkpoint" / "state.pt", weights_only=True)["step"] == step
    assert main(["train", "--out", str(out), "--resume", "--set", f"steps={step + 2}"]) == 0
    assert f"resumed at step {step}" in (out / "log.txt").read_text()


# ---------------------------------------------------------------------------------------- predict
def test_predict_takes_negative_angles_and_refuses_nan_and_tiny_images(run, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(img)
    base = ["predict", "--checkpoint", str(run), "--anchor", str(img), "--query", str(img)]
    capsys.readouterr()
    assert main(base + ["--anchor-pose", "-34,-30,-12", "--anchor-box", "8,8,40,40", "--query-box", "full"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "query" in out
    assert main(base + ["--anchor-pose", "nan,0,0", "--anchor-box", "full", "--query-box", "full"]) == 2
    one_line(capsys, "--anchor-pose", "finite")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    assert main(["predict", "--checkpoint", str(run), "--anchor", str(tiny), "--query", str(img),
                 "--anchor-box", "full", "--query-box", "full"]) == 2
    one_line(capsys, "anchor image: 1x1 px is too small", "at least 12 px")
    assert main(base + ["--anchor-box", "full", "--query-box", "30,30,32,32"]) == 2
    one_line(capsys, "query box 30,30,32,32: its crop is 4 px, too small", "at least 12 px")
