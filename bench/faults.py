"""Bad input and faults, fed to every relhead command the way a new user would: each probe runs the real
command line (`python -m relhead.cli ...`) as a subprocess in a temporary workspace and is judged by
what the user sees and what is left on disk.

    python bench/faults.py [--out DIR] [--only SUBSTRING] [--jobs 4] [--timeout SECONDS]

Prints a markdown table: probe | command | exit | stderr lines | traceback? | files left behind | verdict.
Clean means: the exit code docs/cli.md documents (2 for bad input, 1 for verify's problems and a full
disk, 128+signal for a stopped training, 0 where the input is valid), no traceback, for a failure one
stderr line naming the file or key it is about, and nothing written anywhere in the workspace (for a
stopped training: a checkpoint that `--resume` accepts, tried in the next row). "files left behind"
lists what a probe created (+), changed (~) or removed (-) in the workspace.

The corpora come from `relhead render` with the tests' analytic fake head (`--set head.model=fake`, 64 px)
and Blender's render of a group replaced by the fast tier's splatter (tests/synthetic.py): commands
marked `relhead*` run through that launcher, which is otherwise `relhead.cli.main`. The fake head is a
plugin as a third party's backend would be: the workspace installs a `.dist-info` naming it in the
entry-point group `relhead.head_models`, and every command finds it there. No network, no GPU, no Anny; a few minutes on two
cores. The full disk and the read-only corpus are real file systems (a small tmpfs, a read-only bind
mount) in a private mount namespace (`unshare --user --map-root-user --mount`); without one those rows
say skipped. `--out DIR` keeps the workspace in DIR (which must not exist) instead of a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FAKE = ["head.model=fake", "shards=2", "groups_per_shard=3", "views=2", "image.width=64", "image.height=64"]
TINY = ["data.size=48", "data.batch=4", "data.workers=0", "data.shuffle_buffer=8", "data.holdout_every=3",
        "model.overrides={embed_dim: 32, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2, cnn_width: 8}",
        "log_every=1", "checkpoint_every=0", "eval_max_pairs=0", "plot=false", "threads=1"]
OTHER_SIZE = "model.overrides={embed_dim: 64, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2, cnn_width: 8}"
# The fake head is a plugin, found through the entry point the workspace installs (Workspace.__init__)
# as a third-party backend's distribution would; the launcher only swaps Blender for the splatter.
LAUNCHER = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import synthetic
import relhead.render.group
relhead.render.group.render_group = lambda cfg, spec, hm, files: synthetic.splat_group(cfg, spec, hm)
from relhead.cli import main
sys.exit(main(sys.argv[1:]))
"""
BAR = re.compile(r"\|[^|]*\| *\d+/\d+ \[")  # a tqdm frame


def sets(values: list[str]) -> list[str]:
    return [a for v in values for a in ("--set", v)]


# ------------------------------------------------------------------------------------- the workspace
class Workspace:
    """A probe's own folder (the current folder of its commands) beside the shared corpus, run and image,
    which it sees through symlinks; `aux` holds what a probe keeps outside its folder (mount points)."""

    def __init__(self, root: Path, timeout: float, name: str = "shared"):
        self.root, self.timeout = root, timeout
        self.ws, self.aux = root / "ws" / name, root / "aux" / name
        self.ws.mkdir(parents=True)
        self.aux.mkdir(parents=True)
        self.launcher = root / "relhead_fake.py"
        if not self.launcher.exists():
            self.launcher.write_text(LAUNCHER)
        site = root / "site"  # what `pip install` of a plugin declaring the fake head leaves behind
        info = site / "relhead_fake_head-0.1.dist-info"
        if not info.exists():
            info.mkdir(parents=True)
            (info / "METADATA").write_text("Metadata-Version: 2.1\nName: relhead-fake-head\nVersion: 0.1\n")
            (info / "entry_points.txt").write_text("[relhead.head_models]\nfake = fake_head:BACKEND\n")
        path = os.pathsep.join([str(site), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.env = {**os.environ, "OMP_NUM_THREADS": "1"}  # plain `relhead`: no fake head installed
        self.fake_env = {**self.env, "PYTHONPATH": path}
        self.shared: dict = {}  # what a probe leaves for the one that follows it

    def probe(self, name: str) -> "Workspace":
        w = Workspace(self.root, self.timeout, name)
        for shared in ("corpus", "run", "face.png"):
            (w.ws / shared).symlink_to(self.ws / shared)
        return w

    def __truediv__(self, name: str) -> Path:
        return self.ws / name

    def cmd(self, args: list[str], fake: bool = False) -> list[str]:
        entry = [str(self.launcher)] if fake else ["-m", "relhead.cli"]
        return [sys.executable, *entry, *map(str, args)]

    def run(self, args: list[str], fake: bool = False) -> "Result":
        t = time.time()
        try:
            env = self.fake_env if fake else self.env
            p = subprocess.run(self.cmd(args, fake), cwd=self.ws, env=env, capture_output=True, text=True,
                               timeout=self.timeout)
            return Result(p.returncode, p.stdout, p.stderr, time.time() - t)
        except subprocess.TimeoutExpired as exc:
            return Result(None, exc.stdout or "", (exc.stderr or "") if isinstance(exc.stderr, str) else "",
                          time.time() - t)

    def snapshot(self) -> dict[str, str]:
        """Every file of this folder and of the shared inputs (symlinks not followed): path -> sha1."""
        files = {}
        for top, prefix in ((self.ws, ""), (self.root / "ws" / "shared", "shared/")):
            for folder, _, names in os.walk(top):
                for n in names:
                    p = Path(folder) / n
                    if not p.is_symlink():
                        files[prefix + p.relative_to(top).as_posix()] = hashlib.sha1(p.read_bytes()).hexdigest()
        return files


@dataclass
class Result:
    rc: int | None  # None: timed out
    out: str
    err: str
    seconds: float = 0.0
    files: list[str] | None = None  # what was left, when not the workspace diff (a private mount)

    def lines(self) -> list[str]:
        return [ln for ln in self.err.replace("\r", "\n").splitlines() if ln.strip() and not BAR.search(ln)]


# ---------------------------------------------------------------------------------- making bad input
def corpus_copy(ws: Workspace, name: str) -> Path:
    dst = ws / name
    shutil.copytree(ws / "corpus", dst, symlinks=True)
    return dst


def run_copy(ws: Workspace, name: str, model_size: bool = False, drop_checkpoint: bool = False) -> Path:
    dst = ws / name
    shutil.copytree(ws / "run", dst)
    if model_size:  # the run's config says another model size than its weights have
        doc = json.loads((dst / "config.json").read_text())
        doc["config"]["model"]["overrides"]["embed_dim"] = 64
        (dst / "config.json").write_text(json.dumps(doc))
    if drop_checkpoint:
        shutil.rmtree(dst / "checkpoint")
    return dst


def vouch(corpus: Path, shard: Path) -> None:
    """Make the manifest and the shard's record vouch for `shard` as it now is (size, sha256), as if written so."""
    size, sha = shard.stat().st_size, hashlib.sha256(shard.read_bytes()).hexdigest()
    m = json.loads((corpus / "manifest.json").read_text())
    entry = next(e for e in m["shards"].values() if e["file"] == shard.name)
    entry["bytes"], entry["sha256"] = size, sha
    (corpus / "manifest.json").write_text(json.dumps(m))
    record = shard.with_suffix(".json")
    rec = json.loads(record.read_text())
    rec["entry"].update(bytes=size, sha256=sha)
    record.write_text(json.dumps(rec))


def manifest_edit(name: str, edit: Callable[[dict], object]) -> Callable[[Workspace], None]:
    """A copy of the corpus whose manifest.json `edit` changed (in place)."""
    def make(ws: Workspace) -> None:
        path = corpus_copy(ws, name) / "manifest.json"
        m = json.loads(path.read_text())
        edit(m)
        path.write_text(json.dumps(m))
    return make


def random_shard(name: str) -> Callable[[Workspace], None]:
    """A copy of the corpus whose shard 1 is random bytes of its size, the manifest and record vouching for them."""
    def make(ws: Workspace) -> None:
        shard = corpus_copy(ws, name) / "shard-000001.tar"
        shard.write_bytes(np.random.default_rng(0).integers(0, 256, shard.stat().st_size, dtype=np.uint8).tobytes())
        vouch(shard.parent, shard)
    return make


def corrupt_weights(name: str, keep: int) -> Callable[[Workspace], None]:
    """A copy of the run whose model.safetensors keeps only its first `keep` bytes."""
    def make(ws: Workspace) -> None:
        weights = run_copy(ws, name) / "checkpoint" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:keep])
    return make


def damaged(name: str, how: str) -> Callable[[Workspace], None]:
    """A copy of the corpus whose shard 1 is truncated, byte-flipped, or holds an extra member (`../`-named,
    a symlink or a hard link) with the manifest vouching for it."""
    def make(ws: Workspace) -> None:
        shard = corpus_copy(ws, name) / "shard-000001.tar"
        data = bytearray(shard.read_bytes())
        if how == "truncated":
            shard.write_bytes(bytes(data[: len(data) // 2]))
        elif how == "flipped":
            data[len(data) // 2] ^= 0xFF
            shard.write_bytes(bytes(data))
        else:
            with tarfile.open(fileobj=io.BytesIO(bytes(data))) as src, tarfile.open(shard, "w") as dst:
                first = src.getmembers()[0].name
                for m in src.getmembers():
                    dst.addfile(m, src.extractfile(m))
                extra = tarfile.TarInfo({"dotdot": "../../evil.json", "symlink": "link.json",
                                         "hardlink": "hard.json"}[how])
                if how == "dotdot":
                    extra.size = 2
                    dst.addfile(extra, io.BytesIO(b"{}"))
                else:
                    extra.type = tarfile.SYMTYPE if how == "symlink" else tarfile.LNKTYPE
                    extra.linkname = "/etc/passwd" if how == "symlink" else first
                    dst.addfile(extra)
            vouch(shard.parent, shard)
    return make


def image(name: str, size: tuple[int, int] = (64, 64), raw: bytes | None = None) -> Callable[[Workspace], None]:
    def make(ws: Workspace) -> None:
        if raw is not None:
            (ws / name).write_bytes(raw)
        else:
            rgb = np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), dtype=np.uint8)
            Image.fromarray(rgb).save(ws / name)
    return make


def biwi(name: str, pose: str) -> Callable[[Workspace], None]:
    """A two-frame BIWI sequence whose first pose file holds `pose`."""
    def make(ws: Workspace) -> None:
        from relhead.datasets.biwi import calibration_text

        seq = ws / name / "faces_0" / "01"
        seq.mkdir(parents=True)
        K = np.array([[517.7, 0, 320], [0, 517.7, 240], [0, 0, 1]])
        for cal in ("rgb.cal", "depth.cal"):
            (seq / cal).write_text(calibration_text(K, np.eye(3), np.zeros(3), (640, 480)))
        for n, text in ((3, pose), (4, "1 0 0\n0 1 0\n0 0 1\n\n0 0 900\n")):
            Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(seq / f"frame_{n:05d}_rgb.png")
            (seq / f"frame_{n:05d}_pose.txt").write_text(text)
    return make


def assets(kind: str) -> Callable[[Workspace], None]:
    """A user folder holding one bad asset: an HDRI that is not OpenEXR, a background photo that is not an
    image, a FLAME file that pickles a call to os.system."""
    def make(ws: Workspace) -> None:
        d = ws / kind
        d.mkdir()
        if kind == "hdris":
            (d / "sky.exr").write_bytes(b"this is not an OpenEXR file\n" * 10)
        elif kind == "photos":
            Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(d / "good.png")
            (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
        else:
            import pickle

            class Evil:
                def __reduce__(self):
                    return os.system, (f"touch {ws / 'PWNED'}",)

            (d / "model.pkl").write_bytes(pickle.dumps(Evil(), protocol=2))
            (d / "landmarks.pkl").write_bytes(pickle.dumps(Evil(), protocol=2))
    return make


def other_corpus(ws: Workspace) -> None:
    shutil.copytree(ws / "corpus", ws / "taken" / "test")


def not_a_corpus(ws: Workspace) -> None:
    (ws / "holiday").mkdir(exist_ok=True)
    (ws / "holiday" / "notes.txt").write_text("photos from the beach\n")


def existing_run(ws: Workspace) -> None:
    run_copy(ws, "run-exists")


# --------------------------------------------------------------------------------------- the probes
@dataclass
class Probe:
    issue: str  # the issue item it covers ("" for other natural bad input)
    name: str
    args: list[str] | Callable[[Workspace], list[str]] = field(default_factory=list)
    expect: int = 2
    names: tuple[str, ...] = ()  # what the one line must name (workspace paths relative)
    setup: Callable[[Workspace], None] | None = None
    fake: bool = False  # through the launcher (the fake head, the splatter)
    writes: bool = False  # it may write (a stopped or resumed training)
    check: Callable[[Workspace, Result], str | None] | None = None  # another condition; its problem or None
    runner: Callable[[Workspace], Result] | None = None  # instead of one command (mounts, signals)
    shown: str | None = None  # the command as shown, when `runner` runs it
    follows: bool = False  # runs after the probe before it, in its folder (a resume of what it left)


def predict(*more: str, anchor: str = "face.png", query: str = "face.png", run: str = "run") -> list[str]:
    return ["predict", "--checkpoint", run, "--anchor", anchor, "--query", query, *more]


def full_boxes(*more) -> list[str]:
    return ["--anchor-box", "full", "--query-box", "full", *more]


def train(data: str | None, out: str, *more: str) -> list[str]:
    return ["train", *(["--data", data] if data else []), "--out", out, "--set", "steps=2", *sets(TINY), *more]


def no_pwn(ws: Workspace, r: Result) -> str | None:
    return "the pickle ran" if (ws / "PWNED").exists() else None


def json_out(key: str) -> Callable[[Workspace, Result], str | None]:
    def check(ws: Workspace, r: Result) -> str | None:
        try:
            return None if key in json.loads(r.out) else f"no {key!r} in the JSON"
        except ValueError:
            return "stdout is not JSON"
    return check


def said(*needles: str, absent: tuple[str, ...] = ()) -> Callable[[Workspace, Result], str | None]:
    def check(ws: Workspace, r: Result) -> str | None:
        text = r.out + r.err
        missing = [n for n in needles if n not in text] + [f"not {a!r}" for a in absent if a in text]
        return f"expected {missing}" if missing else None
    return check


def resume_accepts(run: str) -> Callable[[Workspace, Result], str | None]:
    """A run a failed start left: `--resume` must take it (here, on the still-broken corpus, the same clean
    line naming the shard rather than 'no checkpoint' or 'already exists')."""
    def check(ws: Workspace, r: Result) -> str | None:
        if not (ws / run).exists():
            return None
        again = ws.run(["train", "--out", run, "--resume"])
        lines = again.lines()
        if again.rc == 2 and len(lines) == 1 and "shard-000001.tar" in lines[0]:
            return None
        return f"--resume on what it left: exit {again.rc}: {' / '.join(lines)[:160]}"
    return check


# ---- probes that need a private mount namespace or a signal
def in_namespace(ws: Workspace, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-uc", script],
                          capture_output=True, text=True, cwd=ws.ws, env=ws.fake_env, timeout=3 * ws.timeout)


def namespaces_work() -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                              capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def skipped(reason: str) -> Result:
    return Result(-1, "", reason)


def read_only_preview(ws: Workspace) -> Result:
    if not namespaces_work():
        return skipped("no private mount namespace here (and as root, chmod does not stop writes)")
    corpus = ws / "ro-corpus"
    res = ws.aux / "ro"
    res.mkdir()
    preview = shlex.join(ws.cmd(["preview", str(corpus)]))
    in_namespace(ws, f"""mount --bind {corpus} {corpus} && mount -o remount,bind,ro {corpus}
        {preview} > {res}/out 2> {res}/err; echo $? > {res}/rc""")
    return Result(int((res / "rc").read_text()), (res / "out").read_text(), (res / "err").read_text())


def full_disk(ws: Workspace) -> Result:
    """A render into a tmpfs with room for shard 0 and half of shard 1; the resume after more room is the
    next probe (its outcome is kept in ws.shared)."""
    if not namespaces_work():
        ws.shared["disk"] = "skip"
        return skipped("no private mount namespace here to mount a small tmpfs")
    page = os.sysconf("SC_PAGE_SIZE")
    size = lambda name: -(-(ws / "corpus" / name).stat().st_size // page) * page  # noqa: E731
    room = (2 * size("manifest.json") + size("shard-000000.tar") + 2 * size("shard-000000.json") + 2 * page
            + -(-(ws / "corpus" / "shard-000001.tar").stat().st_size // 2 // page) * page)
    mnt, res = ws.aux / "disk", ws.aux / "disk-res"
    mnt.mkdir()
    res.mkdir()
    render = shlex.join(ws.cmd(["render", "--pipeline", "test", "--out", str(mnt), *sets(FAKE)], fake=True))
    verify = shlex.join(ws.cmd(["verify", f"{mnt}/test"], fake=True))
    in_namespace(ws, f"""mount -t tmpfs -o size={room} tmpfs {mnt} || exit 1
        {render} > {res}/out1 2> {res}/err1; echo $? > {res}/rc1
        (cd {mnt} && find . -type f | sort) > {res}/files1
        mount -o remount,size=16m {mnt}
        {render} > {res}/out2 2> {res}/err2; echo $? > {res}/rc2
        {verify} > {res}/out3 2> {res}/err3; echo $? > {res}/rc3
        (cd {mnt} && find . -type f | sort) > {res}/files2""")
    if not (res / "rc1").exists():
        ws.shared["disk"] = "skip"
        return skipped("could not mount a tmpfs in the namespace")
    read = lambda n: (res / n).read_text()  # noqa: E731
    ws.shared["disk"] = Result(int(read("rc2")), read("out2") + read("out3"), read("err2") + read("err3"),
                               files=[f"{f[2:]}" for f in read("files2").split()])
    ws.shared["disk-verify"] = int(read("rc3"))
    return Result(int(read("rc1")), read("out1"), read("err1"), files=[f[2:] for f in read("files1").split()])


def only_finished_shards(ws: Workspace, r: Result) -> str | None:
    left = set(r.files or [])
    kept = {"manifest.json", ".manifest.lock", "shard-000000.json", "shard-000000.tar"}
    return None if r.files is None or left <= {f"test/{k}" for k in kept} else \
        f"left {sorted(left - {f'test/{k}' for k in kept})}"


def resume_after_full_disk(ws: Workspace) -> Result:
    r = ws.shared.get("disk", "skip")
    return skipped("the full-disk probe was skipped") if r == "skip" else r


def resumed_and_verified(ws: Workspace, r: Result) -> str | None:
    if ws.shared.get("disk-verify") != 0 or "warning" in r.err:
        return f"verify after the resume: exit {ws.shared.get('disk-verify')}"
    return None


def signalled(sig: signal.Signals) -> Callable[[Workspace], Result]:
    def go(ws: Workspace) -> Result:
        out = ws / f"run-{sig.name.lower()}"
        proc = subprocess.Popen(ws.cmd(["train", "--data", ws / "corpus", "--out", out, "--set", "steps=100000",
                                        *sets(TINY)]), cwd=ws.ws, env=ws.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        metrics, deadline = out / "metrics.jsonl", time.time() + ws.timeout
        while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 3):
            time.sleep(0.2)
        proc.send_signal(sig)
        try:
            stdout, stderr = proc.communicate(timeout=ws.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            return Result(None, stdout, stderr)
        return Result(proc.returncode, stdout, stderr)
    return go


SLOW = LAUNCHER.replace("synthetic.splat_group(cfg, spec, hm)", "(time.sleep(2.0), synthetic.splat_group(cfg, spec, hm))[1]") \
    .replace("import sys\n", "import sys, time\n", 1)


def render_interrupted(ws: Workspace) -> Result:
    """`relhead render` (splatting, two seconds a group, so that a bench thread starved by its neighbours'
    file diffs still signals before the last shard ends) sent SIGINT as Ctrl-C sends it, to the process
    group, once its first shard is done."""
    (ws.aux / "slow.py").write_text(SLOW)
    cmd = [sys.executable, str(ws.aux / "slow.py"), "render", "--pipeline", "test", "--out", "ctrl-c", *sets(FAKE)]
    proc = subprocess.Popen(cmd, cwd=ws.ws, env=ws.fake_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,  # SIGINT as a terminal leaves it (not ignored as in `cmd &`)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + ws.timeout
    while not (ws / "ctrl-c/test/shard-000000.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=ws.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Result(None, out, err)
    return Result(proc.returncode, out, err)


def one_line_saying(*needles: str) -> Callable[[Workspace, Result], str | None]:
    def check(ws: Workspace, r: Result) -> str | None:
        lines = r.lines()
        ok = len(lines) == 1 and all(n in lines[0] for n in needles)
        return None if ok else f"stderr: {' / '.join(lines)[:160]}"
    return check


def stopped_step(ws: Workspace, run: str) -> int | None:
    log = (ws / run / "log.txt")
    last = log.read_text().strip().splitlines()[-1] if log.exists() else ""
    m = re.match(r"stopped by SIG\w+ at step (\d+);.*--resume` continues", last)
    return int(m.group(1)) if m else None


def stopped_with_checkpoint(run: str) -> Callable[[Workspace, Result], str | None]:
    def check(ws: Workspace, r: Result) -> str | None:
        step = stopped_step(ws, run)
        if step is None:
            return "log.txt does not end with 'stopped by ... at step N; --resume continues'"
        return None if (ws / run / "checkpoint" / "state.pt").is_file() else "no checkpoint/state.pt"
    return check


def resume_after(run: str) -> Callable[[Workspace], list[str]]:
    return lambda ws: ["train", "--out", run, "--resume", "--set", f"steps={(stopped_step(ws, run) or 0) + 2}"]


def resumed_at(run: str) -> Callable[[Workspace, Result], str | None]:
    def check(ws: Workspace, r: Result) -> str | None:
        text = (ws / run / "log.txt").read_text() if (ws / run / "log.txt").exists() else ""
        return None if re.search(r"resumed at step \d+", text) else "log.txt has no 'resumed at step N'"
    return check


PROBES: list[Probe] = [
    # -- issue 23's list
    Probe("1", "train: truncated shard", train("c-trunc", "r-trunc"), names=("shard-000001.tar",),
          setup=damaged("c-trunc", "truncated")),
    Probe("1", "train: byte-flipped shard", train("c-flip", "r-flip"), names=("shard-000001.tar",),
          setup=damaged("c-flip", "flipped")),
    Probe("1", "train: shard with a `../../evil.json` member (hash vouched for)", train("c-dotdot", "r-dotdot"),
          names=("shard-000001.tar",), setup=damaged("c-dotdot", "dotdot"), writes=True,
          check=resume_accepts("r-dotdot")),
    Probe("2", "eval: corrupt model.safetensors", ["eval", "--checkpoint", "r-corrupt"],
          names=("model.safetensors",), setup=corrupt_weights("r-corrupt", 100)),
    Probe("2", "predict: corrupt model.safetensors", predict(*full_boxes(), run="r-corrupt2"),
          names=("model.safetensors",), setup=corrupt_weights("r-corrupt2", 100)),
    Probe("2", "eval: weights of another model size", ["eval", "--checkpoint", "r-size"],
          names=("model.safetensors",), setup=lambda ws: run_copy(ws, "r-size", model_size=True)),
    Probe("2", "predict: weights of another model size", predict(*full_boxes(), run="r-size2"),
          names=("model.safetensors",), setup=lambda ws: run_copy(ws, "r-size2", model_size=True)),
    Probe("2", "train --init: corrupt .safetensors",
          train("corpus", "r-init", "--init", "junk.safetensors", "--set", "finetune=full"),
          names=("--init", "junk.safetensors"), setup=image("junk.safetensors", raw=b"\x10\x00\x00\x00garbage")),
    Probe("2", "train --init: weights of another model size",
          train("corpus", "r-init2", "--init", "run/checkpoint/model.safetensors", "--set", "finetune=full",
                "--set", OTHER_SIZE), names=("--init", "model.safetensors")),
    Probe("3", "train --resume with another model size (config.json unchanged?)",
          ["train", "--out", "r-resize", "--resume", "--set", "steps=4", "--set", OTHER_SIZE],
          names=("--resume",), setup=lambda ws: run_copy(ws, "r-resize")),
    Probe("4", "predict --anchor-pose nan,0,0", predict(*full_boxes("--anchor-pose", "nan,0,0")),
          names=("--anchor-pose",)),
    Probe("4", "predict --anchor-pose -34,-30,-12 (plain form, valid)",
          predict(*full_boxes("--anchor-pose", "-34,-30,-12")), expect=0, check=json_out("query")),
    Probe("4", "predict --anchor-pose with two numbers", predict(*full_boxes("--anchor-pose", "10,-5")),
          names=("--anchor-pose",)),
    Probe("5", "predict: a 1x1 image", predict(*full_boxes(), anchor="dot.png"),
          names=("anchor image", "too small"), setup=image("dot.png", (1, 1))),
    Probe("5", "predict: a 4x4 px face box", predict("--anchor-box", "0,0,4,4", "--query-box", "full"),
          names=("anchor box", "too small")),
    Probe("6", "preview: a read-only corpus (read-only bind mount)", names=("preview.png", "--out"),
          runner=read_only_preview, shown="preview ro-corpus",
          setup=lambda ws: corpus_copy(ws, "ro-corpus")),
    Probe("7", "render onto a full disk (tmpfs with room for 1.5 shards)", expect=1, names=("disk full",),
          runner=full_disk, check=only_finished_shards, writes=True, fake=True, shown="render --pipeline test --out TMPFS ..."),
    Probe("7", "render again after the disk got room (resume), then verify", follows=True, expect=0,
          runner=resume_after_full_disk, check=resumed_and_verified, writes=True, fake=True, shown="render ...; verify"),
    Probe("8", "render: a FLAME file that pickles os.system",
          ["render", "--pipeline", "test", "--out", "out-flame", "--set", "head.model=flame",
           "--set", "head.model_path=flame/model.pkl", "--set", "head.landmarks_path=flame/landmarks.pkl"],
          names=("head.model_path", "model.pkl"), setup=assets("flame"), check=no_pwn),
    Probe("8", "render: an HDRI that is not OpenEXR",
          ["render", "--pipeline", "test", "--out", "out-hdri", "--set", "lighting.hdri_dir=hdris",
           "--set", "lighting.hdris=user"], names=("lighting.hdri_dir", "sky.exr"), setup=assets("hdris")),
    Probe("8", "render: a background photo that is not an image",
          ["render", "--pipeline", "test", "--out", "out-bg", "--set", "lighting.background_dir=photos",
           "--set", "lighting.image_background_fraction=1"], names=("lighting.background_dir", "broken.jpg"),
          setup=assets("photos")),
    Probe("9", "train: SIGINT mid-run", expect=128 + signal.SIGINT, writes=True, runner=signalled(signal.SIGINT),
          check=stopped_with_checkpoint("run-sigint"), shown="train --data corpus --out run-sigint (then SIGINT)"),
    Probe("9", "train --resume after SIGINT", follows=True, args=resume_after("run-sigint"), expect=0, writes=True,
          check=resumed_at("run-sigint")),
    Probe("9", "train: SIGTERM mid-run", expect=128 + signal.SIGTERM, writes=True,
          runner=signalled(signal.SIGTERM), check=stopped_with_checkpoint("run-sigterm"),
          shown="train --data corpus --out run-sigterm (then SIGTERM)"),
    Probe("9", "train --resume after SIGTERM", follows=True, args=resume_after("run-sigterm"), expect=0, writes=True,
          check=resumed_at("run-sigterm")),
    Probe("10", "train --resume on a finished run", ["train", "--out", "r-done", "--resume"], expect=0,
          setup=lambda ws: run_copy(ws, "r-done"), check=said("nothing to do", absent=("nan",))),
    Probe("11", "verify: a symlink member", ["verify", "c-sym"], fake=True, expect=1, names=("shard-000001.tar", "link"),
          setup=damaged("c-sym", "symlink")),
    Probe("11", "verify: a hard-link member", ["verify", "c-hard"], fake=True, expect=1, names=("shard-000001.tar", "link"),
          setup=damaged("c-hard", "hardlink")),
    Probe("11", "preview: a symlink member", ["preview", "c-sym2", "--out", "sym.png"],
          names=("shard-000001.tar",), setup=damaged("c-sym2", "symlink")),
    Probe("11", "preview: a hard-link member", ["preview", "c-hard2", "--out", "hard.png"],
          names=("shard-000001.tar",), setup=damaged("c-hard2", "hardlink")),
    Probe("11", "train: a symlink member", train("c-sym3", "r-sym"), names=("shard-000001.tar",),
          setup=damaged("c-sym3", "symlink"), writes=True, check=resume_accepts("r-sym")),
    Probe("11", "train: a hard-link member", train("c-hard3", "r-hard"), names=("shard-000001.tar",),
          setup=damaged("c-hard3", "hardlink"), writes=True, check=resume_accepts("r-hard")),
    Probe("12", "Anny's first-use cache build announced", runner=lambda ws: skipped(
        "needs minutes and an empty ANNY_CACHE_DIR; tests/test_host.py checks the message"), shown="render (cold cache)"),
    # -- issue 29's section 2
    Probe("29.1", "render: --set shards=1000000000000", ["render", "--pipeline", "test", "--out", "out-big",
          "--set", "shards=1000000000000"], names=("shards", "100,000")),
    Probe("29.1", "render: --set groups_per_shard=100000", ["render", "--pipeline", "test", "--out", "out-big",
          "--set", "groups_per_shard=100000"], names=("groups_per_shard", "10,000")),
    Probe("29.2", "eval --out a folder", ["eval", "--checkpoint", "run", "--out", "."], names=("--out",)),
    Probe("29.2", "eval --out in missing folders (made, valid)", ["eval", "--checkpoint", "run", "--out",
          "missing/parent/x.json"], expect=0, writes=True, check=lambda ws, r: None if (ws / "missing/parent/x.json").is_file()
          else "no missing/parent/x.json"),
    Probe("29.3", "report --out a folder", ["report", "r-eval", "--out", "."], names=("--out",),
          setup=lambda ws: (run_copy(ws, "r-eval"), ws.run(["eval", "--checkpoint", "r-eval"]))),
    Probe("29.3", "render --config a folder", ["render", "--pipeline", "test", "--out", "out-x", "--config", "."],
          names=(".: is a folder",)),
    Probe("29.4", "preview --groups 0", ["preview", "corpus", "--out", "g.png", "--groups", "0"], names=("--groups",)),
    Probe("29.4", "preview --groups -3", ["preview", "corpus", "--out", "g.png", "--groups=-3"], names=("--groups",)),
    Probe("29.5", "render into a corpus whose manifest.json is not JSON (rebuilt from the records, valid)",
          ["render", "--pipeline", "test", "--out", "rb", *sets(FAKE)], fake=True, expect=0, writes=True,
          setup=lambda ws: (corpus_copy(ws, "rb/test") / "manifest.json").write_text("{not json"),
          check=lambda ws, r: said("rebuilt it from the 2 shard record(s)")(ws, r) or (
              None if (ws / "rb/test/manifest.json").read_bytes() == (ws / "corpus/manifest.json").read_bytes()
              else "the rebuilt manifest differs from the corpus'")),
    Probe("29.5", "train on a corpus whose manifest.json is not JSON", train("c-nojson", "r-x"),
          names=("manifest.json",), setup=lambda ws: (corpus_copy(ws, "c-nojson") / "manifest.json").write_text("{no")),
    Probe("29.6", "verify: a manifest without 'shards'", ["verify", "c-noshards"], fake=True, expect=1,
          names=("manifest.json", "shards"), setup=manifest_edit("c-noshards", lambda m: m.pop("shards"))),
    Probe("29.6", "verify: 'shards' a list", ["verify", "c-shardlist"], fake=True, expect=1,
          names=("manifest.json", "shards"),
          setup=manifest_edit("c-shardlist", lambda m: m.update(shards=list(m["shards"].values())))),
    Probe("29.6", "verify: views_per_group \"three\"", ["verify", "c-three"], fake=True, expect=1,
          names=("manifest.json", "views_per_group"),
          setup=manifest_edit("c-three", lambda m: m.update(views_per_group="three"))),
    Probe("29.7", "render: Ctrl-C (SIGINT to the process group) mid-render", expect=128 + signal.SIGINT, writes=True,
          runner=render_interrupted, fake=True, shown="render --pipeline test --out ctrl-c FAKE (then Ctrl-C)",
          check=one_line_saying("stopped by Ctrl-C", "ctrl-c/test", "run the same command again")),
    Probe("29.7", "render again after Ctrl-C (resumes), then verify", follows=True, expect=0, writes=True, fake=True,
          args=["render", "--pipeline", "test", "--out", "ctrl-c", *sets(FAKE)],
          check=lambda ws, r: None if ws.run(["verify", "ctrl-c/test"], fake=True).rc == 0 else "verify failed"),
    Probe("29.8", "train --data corpus --data corpus", ["train", "--data", "corpus", *train("corpus", "r-twice")[1:]],
          names=("--data", "given twice")),
    Probe("29.9", "train: a shard of random bytes, sha256 vouched for; then the same command again",
          train("c-random", "r-random"), names=("shard-000001.tar",), setup=random_shard("c-random"),
          check=lambda ws, r: (lambda again: None if again.rc == 2 and again.lines() == r.lines()
                               else f"again: exit {again.rc}: {' / '.join(again.lines())[:120]}")(
              ws.run(train("c-random", "r-random")))),
    Probe("29.10", "predict --anchor-pose 1e300,0,0", predict(*full_boxes("--anchor-pose", "1e300,0,0")),
          names=("--anchor-pose",)),
    Probe("29.11", "preview: every shard 'todo' in the manifest", ["preview", "c-todo", "--out", "t.png"],
          names=("c-todo", "not recorded as done"),
          setup=manifest_edit("c-todo", lambda m: [e.update(status="todo") for e in m["shards"].values()])),
    Probe("29.11", "preview: a listed shard missing (draws the rest, says so)", ["preview", "c-gone", "--out", "g.png"],
          expect=0, writes=True, setup=lambda ws: (corpus_copy(ws, "c-gone") / "shard-000001.tar").unlink(),
          check=lambda ws, r: None if len(r.lines()) == 1 and "shard-000001.tar (missing" in r.lines()[0]
          else f"stderr: {' / '.join(r.lines())[:120]}"),
    Probe("29.12", "report right after training (no eval.json: the page of what the run has, valid)",
          ["report", "r-fresh", "--out", "fresh.html"], expect=0, writes=True,
          setup=lambda ws: run_copy(ws, "r-fresh"), check=lambda ws, r: said("no evaluation yet", "--eval FILE")(ws, r)
          or (None if (ws / "fresh.html").is_file() else "no fresh.html")),
    Probe("29.12", "report --eval FILE written elsewhere (valid)", ["report", "r-else", "--out", "else.html", "--eval",
          "evals/e.json"], expect=0, writes=True,
          setup=lambda ws: (run_copy(ws, "r-else"), ws.run(["eval", "--checkpoint", "r-else", "--out", "evals/e.json"])),
          check=lambda ws, r: None if "evals/e.json: pairs" in (ws / "else.html").read_text() else "not on the page"),
    # -- other natural bad input, command by command
    Probe("", "render: unknown pipeline", ["render", "--pipeline", "nosuch", "--out", "out-x"], names=("nosuch",)),
    Probe("", "render: misspelt --set key", ["render", "--pipeline", "test", "--out", "out-x",
                                            "--set", "image.widht=64"], names=("image.widht",)),
    Probe("", "render: --set value of the wrong type", ["render", "--pipeline", "test", "--out", "out-x",
                                                       "--set", "image.width=wide"], names=("image.width",)),
    Probe("", "render: --set value out of range", ["render", "--pipeline", "test", "--out", "out-x",
                                                  "--set", "views=0"], names=("views",)),
    Probe("", "render: a reversed range", ["render", "--pipeline", "test", "--out", "out-x",
                                          "--set", "pose.yaw_deg=[30, -30]"], names=("pose.yaw_deg",)),
    Probe("", "render: unknown head model", ["render", "--pipeline", "test", "--out", "out-x",
                                            "--set", "head.model=nosuch"], names=("head.model",)),
    Probe("", "render: --config is not YAML", ["render", "--pipeline", "test", "--out", "out-x",
                                              "--config", "bad.yaml"], names=("bad.yaml",),
          setup=image("bad.yaml", raw=b"pipelines: [unclosed\n  - : :\n")),
    Probe("", "render into a folder holding another config's corpus", ["render", "--pipeline", "test", "--out",
          "taken", *sets(FAKE), "--set", "seed=8"], names=("taken/test",), setup=other_corpus, fake=True),
    Probe("", "render: a part the head model cannot draw (MPFB's skin on the fake head, which has no UVs)",
          ["render", "--pipeline", "test", "--out", "out-uv", *sets(FAKE), "--set", "render.skin_shader=mpfb"],
          names=("render.skin_shader",), fake=True),
    Probe("", "render the corrected config into the same folder (valid)",
          ["render", "--pipeline", "test", "--out", "out-uv", *sets(FAKE)], fake=True, expect=0, writes=True,
          follows=True),
    Probe("", "render in 2 workers: a part the head model cannot draw",
          ["render", "--pipeline", "test", "--out", "out-uv2", *sets(FAKE), "--set", "render.skin_shader=mpfb",
           "--workers", "2"], names=("render.skin_shader",), fake=True),
    Probe("", "render the corrected config into the same folder, 2 workers (valid)",
          ["render", "--pipeline", "test", "--out", "out-uv2", *sets(FAKE), "--workers", "2"], fake=True, expect=0,
          writes=True, follows=True),
    Probe("", "sweep: unknown sweep", ["sweep", "nosuch", "--out", "out-x"], names=("nosuch",)),
    Probe("", "sweep: misspelt --set key", ["sweep", "lights", "--out", "out-x", "--dry-run",
                                           "--set", "shardz=1"], names=("shardz",)),
    Probe("", "verify: a missing folder", ["verify", "nosuch"], expect=1, names=("nosuch",)),
    Probe("", "verify: a folder that is not a corpus", ["verify", "holiday"], expect=1, names=("holiday",), setup=not_a_corpus),
    Probe("", "verify: a truncated shard", ["verify", "c-trunc2"], fake=True, expect=1, names=("shard-000001.tar",),
          setup=damaged("c-trunc2", "truncated")),
    Probe("", "verify: a byte-flipped shard", ["verify", "c-flip2"], fake=True, expect=1, names=("shard-000001.tar",),
          setup=damaged("c-flip2", "flipped")),
    Probe("", "verify: manifest.json is not JSON", ["verify", "c-manifest"], fake=True, expect=1, names=("manifest.json",),
          setup=lambda ws: (corpus_copy(ws, "c-manifest") / "manifest.json").write_text("{not json")),
    Probe("", "verify: a corpus made with a head backend not installed here", ["verify", "corpus"], expect=1,
          names=("manifest.json", "head.model")),
    Probe("", "preview: --out is not an image name", ["preview", "corpus", "--out", "sheet.txt"],
          names=("sheet.txt",)),
    Probe("", "train: a missing --data folder", train("nosuch", "r-x"), names=("nosuch",)),
    Probe("", "train: --data is not a corpus", train("holiday2", "r-x"), names=("holiday2",),
          setup=lambda ws: (ws / "holiday2").mkdir()),
    Probe("", "train: misspelt --set key", train("corpus", "r-x", "--set", "data.sise=48"), names=("data.sise",)),
    Probe("", "train: --set value out of range", train("corpus", "r-x", "--set", "steps=-1"), names=("steps",)),
    Probe("", "train: into an existing run without --resume", train("corpus", "run-exists"),
          names=("run-exists",), setup=existing_run),
    Probe("", "train --resume: a folder that is not a run", ["train", "--out", "holiday", "--resume"],
          names=("holiday",), setup=not_a_corpus),
    Probe("", "eval: a run folder with no checkpoint", ["eval", "--checkpoint", "r-nockpt"], names=("r-nockpt",),
          setup=lambda ws: run_copy(ws, "r-nockpt", drop_checkpoint=True)),
    Probe("", "eval --batch 0", ["eval", "--checkpoint", "run", "--batch", "0", "--out", "e.json"],
          names=("--batch",)),
    Probe("", "eval --biwi: a missing folder", ["eval", "--checkpoint", "run", "--biwi", "nosuch", "--out", "b.json"],
          names=("nosuch",)),
    Probe("", "eval --biwi: a malformed pose file", ["eval", "--checkpoint", "run", "--biwi", "biwi", "--out",
          "b.json"], names=("frame_00003_pose.txt",), setup=biwi("biwi", "1 0 0\n0 1 0\nzero zero one\n\n0 0 900\n")),
    Probe("", "predict: an empty file as image", predict(*full_boxes(), anchor="empty.png"),
          names=("empty.png",), setup=image("empty.png", raw=b"")),
    Probe("", "predict: a text file as image", predict(*full_boxes(), anchor="notes.png"),
          names=("notes.png",), setup=image("notes.png", raw=b"dear diary\n" * 20)),
    Probe("", "predict: a box outside the image", predict("--anchor-box", "100,100,200,200",
                                                          "--query-box", "full"), names=("--anchor-box",)),
    Probe("", "predict: a box with x1 < x0", predict("--anchor-box", "40,8,8,40", "--query-box", "full"),
          names=("--anchor-box",)),
    Probe("", "predict: a checkpoint folder that does not exist", predict(*full_boxes(), run="nosuch"), names=("nosuch",)),
]


# --------------------------------------------------------------------------------------- the runner
def prepare(ws: Workspace) -> None:
    """The shared inputs: a rendered corpus (fake head, splatted), a 2-step run on it, a face-sized image."""
    r = ws.run(["render", "--pipeline", "test", "--out", ws / "made", *sets(FAKE)], fake=True)
    if r.rc != 0:
        sys.exit(f"bench/faults.py: making the corpus failed:\n{r.err[-3000:]}")
    shutil.move(ws / "made" / "test", ws / "corpus")
    shutil.rmtree(ws / "made")
    r = ws.run(train(str(ws / "corpus"), str(ws / "run")))
    if r.rc != 0:
        sys.exit(f"bench/faults.py: training the run failed:\n{r.err[-3000:]}")
    image("face.png")(ws)


def diff(before: dict, after: dict) -> list[str]:
    return ([f"+{k}" for k in after if k not in before] + [f"~{k}" for k in after if k in before and after[k] != before[k]]
            + [f"-{k}" for k in before if k not in after])


def judge(p: Probe, ws: Workspace, r: Result, left: list[str]) -> str:
    if r.rc == -1:
        return f"skipped: {r.err}"
    if r.rc is None:
        return f"UNCLEAN: no answer within {ws.timeout:.0f} s"
    problems = []
    lines = r.lines()
    if r.rc != p.expect:
        problems.append(f"exit {r.rc}, not {p.expect}")
    if "Traceback" in r.err:
        problems.append("traceback")
    if p.expect not in (0,) and p.expect < 128:
        if len(lines) != 1:
            problems.append(f"{len(lines)} stderr lines")
        missing = [n for n in p.names if not any(n in ln for ln in lines)]
        if missing:
            problems.append(f"the message does not name {', '.join(missing)}")
    if left and not p.writes:
        problems.append("wrote files")
    if p.check:
        problem = p.check(ws, r)
        if problem:
            problems.append(problem)
    return "clean" if not problems else "UNCLEAN: " + "; ".join(problems)


def tidy(text: str, ws: Workspace) -> str:
    """Workspace paths relative, the tiny training and corpus settings by name."""
    for long, short in ((shlex.join(sets(TINY)), "TINY"), (shlex.join(sets(FAKE)), "FAKE"),
                        (str(ws.aux / "disk"), "TMPFS"), (str(ws.ws) + "/", ""), (str(ws.ws), "."),
                        (str(ws.root / "ws" / "shared") + "/", "")):
        text = text.replace(long, short)
    return text


def shown(p: Probe, args: list[str], ws: Workspace) -> str:
    return ("relhead* " if p.fake else "relhead ") + tidy(p.shown or shlex.join(args), ws)


def cell(text: str, limit: int = 150) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_chain(ws: Workspace, chain: list[tuple[int, Probe]]) -> list[tuple]:
    """Probes in their own folder, one after the other (a probe and the ones that follow it)."""
    w, rows = ws.probe(f"p{chain[0][0]:02d}"), []
    for i, p in chain:
        if p.setup:
            p.setup(w)
        before = w.snapshot()
        args = p.args(w) if callable(p.args) else p.args
        r = p.runner(w) if p.runner else w.run(args, p.fake)
        left = r.files if r.files is not None else diff(before, w.snapshot())
        verdict = judge(p, w, r, left if r.files is None else [])
        rows.append((i, p, shown(p, args, w), r, [tidy(ln, w) for ln in r.lines()], left, tidy(verdict, w)))
        print(f"{i:2d} {p.name}: {verdict} ({r.seconds:.0f} s)", file=sys.stderr)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="keep the workspace in this new folder")
    ap.add_argument("--only", default=None, help="run only the probes whose name contains this")
    ap.add_argument("--jobs", type=int, default=4, help="probes run at once (each is mostly process start-up)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds one command may take")
    a = ap.parse_args()
    root = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="relhead-faults-"))
    if a.out:
        root.mkdir(parents=True)
    ws = Workspace(root.resolve(), a.timeout)
    t0 = time.time()
    chains: list[list[tuple[int, Probe]]] = []
    for i, p in enumerate(PROBES, 1):
        if p.follows and chains and chains[-1][-1][0] == i - 1:
            chains[-1].append((i, p))
        elif not a.only or a.only in p.name:
            chains.append([(i, p)])
    try:
        prepare(ws)
        print(f"corpus and run made in {time.time() - t0:.0f} s", file=sys.stderr)
        with ThreadPoolExecutor(a.jobs) as pool:
            rows = sorted(row for rows in pool.map(lambda c: run_chain(ws, c), chains) for row in rows)
    finally:
        if not a.out:
            shutil.rmtree(root, ignore_errors=True)
    print("| # | issue | probe | command | exit | stderr (lines: text) | traceback? | files left behind | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, p, cmd, r, lines, left, verdict in rows:
        first = "-" if r.rc == -1 else f"{len(lines)}" + (f": {lines[0]}" if lines else "") + (" …" if len(lines) > 1 else "")
        files = ", ".join(left[:4]) + (f" (+{len(left) - 4} more)" if len(left) > 4 else "") if left else "none"
        print(f"| {i} | {p.issue} | {cell(p.name)} | `{cell(cmd, 120)}` | {'-' if r.rc in (None, -1) else r.rc} | "
              f"{cell(first)} | {'yes' if 'Traceback' in r.err else 'no'} | {cell(files)} | "
              f"{cell(verdict, 200)} |")
    clean = sum(v == "clean" for *_, v in rows)
    skip = sum(v.startswith("skipped") for *_, v in rows)
    print(f"\n{clean} of {len(rows)} probes clean, {skip} skipped, {len(rows) - clean - skip} unclean "
          f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
