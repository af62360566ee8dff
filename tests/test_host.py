"""The host, as a user meets it: a read-only corpus and a disk that fills up mid-render end in one line
with nothing half-written, and the next run resumes; Anny's first-use cache build is announced; a
machine without GPU drivers renders without their probes' warnings.

The file systems are real: a size-limited tmpfs and a read-only bind mount in a private mount
namespace (`unshare --user --map-root-user --mount`, which needs no root where user namespaces are
allowed). Renders there go through the project's own generator with the Blender step replaced by the
synthetic splatter of `synthetic.py` (fast tier), so every file is written by the code under test."""

import json
import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cpu import avx2_host_env, native_env, needs_avx512

TESTS = Path(__file__).resolve().parent
SETS = ["head.model=fake", "shards=2", "groups_per_shard=2", "views=2", "image.width=64", "image.height=64"]
# The `relhead` command line with Blender's render of a group replaced by the synthetic splatter.
RELHEAD = """
import sys
import fake_head; fake_head.register()
import synthetic
import relhead.render.group
relhead.render.group.render_group = lambda cfg, spec, hm, files: synthetic.splat_group(cfg, spec, hm)
from relhead.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _namespaces_work() -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                              capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


needs_mounts = pytest.mark.skipif(not _namespaces_work(), reason="no private mount namespace here "
                                  "(unshare --user --mount is not allowed)")


def relhead_cmd(tmp_path: Path, *args: str) -> str:
    """A shell command running `relhead ARGS` (synthetic renders)."""
    script = tmp_path / "relhead_splat.py"
    script.write_text(RELHEAD)
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)  # fake_head, synthetic
    return shlex.join(["env", f"PYTHONPATH={path}", sys.executable, str(script), *map(str, args)])


def in_namespace(tmp_path: Path, steps: str) -> None:
    """Run shell `steps` (set -e) in a private mount namespace, where they may mount."""
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-euc", steps],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


BAR = re.compile(r"\|[^|]*\| *\d+/\d+ \[")  # a tqdm frame: "desc: 50%|#####     | 2/4 [00:07<00:06, ...]"


def messages(err: str) -> list[str]:
    """stderr without the progress bars' frames."""
    return [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not BAR.search(line)]


def render_args(out: Path) -> list[str]:
    return ["render", "--pipeline", "test", "--out", str(out), *[a for s in SETS for a in ("--set", s)]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The corpus made uninterrupted on an ordinary disk."""
    tmp = tmp_path_factory.mktemp("reference")
    r = subprocess.run(relhead_cmd(tmp, *render_args(tmp)), shell=True, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp / "test"


def corpus_files(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix in (".tar", ".json")
            and p.name != "manifest.json"} | {"manifest": json.loads((out / "manifest.json").read_text())}


@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
@needs_mounts
def test_a_full_disk_stops_with_one_line_keeps_finished_shards_and_the_next_run_resumes(reference, tmp_path):
    page = os.sysconf("SC_PAGE_SIZE")

    def pages(n: int) -> int:
        return -(-n // page) * page

    size = lambda name: (reference / name).stat().st_size  # noqa: E731
    # Room for the manifest and shard 0 with its record and lease (each written beside its
    # temporary copy), and for half of shard 1: the disk fills up while shard 1 is written.
    room = (2 * pages(size("manifest.json")) + pages(size("shard-000000.tar")) + 2 * pages(size("shard-000000.json"))
            + 2 * page + pages(size("shard-000001.tar") // 2))
    mnt, res = tmp_path / "mnt", tmp_path / "res"
    mnt.mkdir()
    res.mkdir()
    render = relhead_cmd(tmp_path, *render_args(mnt))
    verify = relhead_cmd(tmp_path, "verify", mnt / "test")
    in_namespace(tmp_path, f"""
        mount -t tmpfs -o size={room} tmpfs {mnt}
        {render} 2> {res}/err1 && echo 0 > {res}/rc1 || echo $? > {res}/rc1
        ls -A {mnt}/test > {res}/after_full
        # what a run killed between a write and its rename leaves: verify names them, a resume removes them
        touch {mnt}/test/.manifest.json.tmp-elsewhere-1 {mnt}/test/.shard-000001.json.tmp-elsewhere-1
        {verify} 2> {res}/err2 || true
        mount -o remount,size=16m {mnt}
        {render} 2> {res}/err3 && echo 0 > {res}/rc3 || echo $? > {res}/rc3
        {verify} 2> {res}/err4 && echo 0 > {res}/rc4 || echo $? > {res}/rc4
        ls -A {mnt}/test > {res}/after_resume
        cp -r {mnt}/test {res}/corpus
    """)
    err = (res / "err1").read_text()
    assert (res / "rc1").read_text().strip() == "1" and "Traceback" not in err, err[-3000:]
    assert messages(err) == [
        f"relhead: disk full (No space left on device) writing {mnt}/test: 1 of 2 shard(s) are done and kept, "
        "unfinished shards were removed; free space and run the same command again to resume"]
    # shard 0 kept whole, nothing of shard 1 and no temporary file left behind
    assert (res / "after_full").read_text().split() == [".manifest.lock", "manifest.json", "shard-000000.json",
                                                        "shard-000000.tar"]
    assert ("warning: temporary file(s) .manifest.json.tmp-elsewhere-1, .shard-000001.json.tmp-elsewhere-1 left by "
            "a run that stopped early") in (res / "err2").read_text()
    assert (res / "rc3").read_text().strip() == "0", (res / "err3").read_text()[-3000:]
    assert (res / "rc4").read_text().strip() == "0" and "warning" not in (res / "err4").read_text()
    assert (res / "after_resume").read_text().split() == [".manifest.lock", "manifest.json", "shard-000000.json",
                                                          "shard-000000.tar", "shard-000001.json", "shard-000001.tar"]
    resumed, ref = corpus_files(res / "corpus"), corpus_files(reference)
    assert resumed.keys() == ref.keys()
    assert {k: v for k, v in resumed.items() if k.endswith(".tar")} == {k: v for k, v in ref.items() if k.endswith(".tar")}
    assert resumed["manifest"] == ref["manifest"]
    assert ([json.loads(resumed[f"shard-00000{i}.json"])["entry"] for i in (0, 1)]
            == [json.loads(ref[f"shard-00000{i}.json"])["entry"] for i in (0, 1)])


@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
def test_a_cold_anny_cache_is_announced_before_it_builds(tmp_path):
    """With an empty ANNY_CACHE_DIR the head model says what the next minutes are for before anny
    starts building; warp's start-up on this CPU machine adds no "no CUDA driver" warning."""
    cache = tmp_path / "anny-cache"
    env = {**os.environ, "ANNY_CACHE_DIR": str(cache)}
    proc = subprocess.Popen([sys.executable, "-c",
                             "from relhead.assets.registry import get_head_model; get_head_model()"],
                            stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(1200, proc.kill)  # a loaded machine takes minutes to import
    watchdog.start()
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("relhead:"):
                break
        built = sorted(p.name for p in cache.rglob("*.safetensors"))
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    assert lines and lines[-1].startswith(
        f"relhead: building Anny's model cache in {cache}; this happens once and takes a few minutes ("), lines
    assert built == []  # said before anything was built
    assert not [line for line in lines if "CUDA" in line], lines


@pytest.mark.slow
def test_a_cpu_render_prints_no_gpu_probe_warnings(tmp_path):
    """A render on the CPU (render.device cpu, the default) with Anny's cache built says only what it
    does: none of warp's or Cycles' failed GPU-driver probes, no cache build."""
    from relhead.quiet import NO_GPU_DRIVER

    sets = ["shards=1", "groups_per_shard=1", "views=2", "image.width=64", "image.height=64", "render.samples=1"]
    r = subprocess.run([sys.executable, "-m", "relhead.cli", "render", "--pipeline", "test",
                        "--out", str(tmp_path), *[a for s in sets for a in ("--set", s)]],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    said = r.stdout + "\n".join(messages(r.stderr))
    assert not [n for n in NO_GPU_DRIVER if n in said] and "CUDA" not in said and "Anny's model cache" not in said, said


@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
@needs_mounts
def test_preview_of_a_read_only_corpus_says_so_and_writes_nothing(tmp_path):
    """`relhead preview` writes DIR/preview.png by default: on a read-only corpus that is one line,
    exit 2, asking for --out, and nothing written; with --out elsewhere the sheet is made."""
    from relhead.config import resolve
    from synthetic import synthetic_corpus

    corpus = synthetic_corpus(resolve("test", SETS), tmp_path / "ro" / "test")
    before = sorted(p.name for p in corpus.iterdir())
    res, sheet = tmp_path / "res", tmp_path / "elsewhere" / "sheet.png"
    res.mkdir()
    preview = shlex.join([sys.executable, "-m", "relhead.cli", "preview", str(corpus)])
    in_namespace(tmp_path, f"""
        mount --bind {corpus} {corpus}
        mount -o remount,bind,ro {corpus}
        {preview} > {res}/out1 2> {res}/err1 && echo 0 > {res}/rc1 || echo $? > {res}/rc1
        {preview} --out {corpus}/sheet.png 2> {res}/err2 && echo 0 > {res}/rc2 || echo $? > {res}/rc2
        {preview} --out {sheet} > {res}/out3 2> {res}/err3 && echo 0 > {res}/rc3 || echo $? > {res}/rc3
    """)
    assert (res / "rc1").read_text().strip() == "2" and (res / "out1").read_text() == ""
    assert (res / "err1").read_text() == (f"relhead: config error: {corpus}: cannot write preview.png there (Read-only "
                                          "file system); give --out FILE in a folder you can write\n")
    assert (res / "rc2").read_text().strip() == "2"
    assert (res / "err2").read_text() == (f"relhead: config error: --out {corpus}/sheet.png: cannot create or write "
                                          "there (Read-only file system)\n")
    assert sorted(p.name for p in corpus.iterdir()) == before
    assert (res / "rc3").read_text().strip() == "0", (res / "err3").read_text()[-2000:]
    assert (res / "out3").read_text() == f"{sheet}\n" and sheet.stat().st_size > 0
    assert sorted(p.name for p in sheet.parent.iterdir()) == ["sheet.png"]  # and no temporary file beside it


# ------------------------------------------------------------------ another host's CPU (slow: Anny, Cycles)
# Every shipped pipeline's first 40 scene specs with the default head model, as one digest.
SPECS = """
import hashlib
from relhead.assets.registry import get_head_model
from relhead.config import load_pipelines, resolve
from relhead.datasets.generate import pools
from relhead.render.sampling import sample_group
h = hashlib.sha256()
for name in load_pipelines()["pipelines"]:
    cfg = resolve(name)
    model, p = get_head_model(cfg.head), pools(cfg)
    for g in range(40):
        h.update(sample_group(cfg, g, model, p.hdris.refs, p.photos.refs, p.skins.refs).model_dump_json().encode())
print(h.hexdigest())
"""
# `realistic` with every part on some group, small: strand, short and facial hair, garments, glasses, hats, a key
# light, extra lights, detailed eyes and skin, backdrops, the camera model, depth of field, motion blur, and every
# extra label.
EVERY_PART = ["shards=1", "groups_per_shard=5", "views=2", "image.width=64", "image.height=64", "accessories.glasses=0.5",
              "accessories.hats=0.5", "hair.facial_hair=1", "effects.photo_fraction=1", "effects.defocus_fraction=0.5",
              "effects.motion_blur_fraction=0.5", "lighting.backdrop_fraction=0.6"]


def _run(code_or_args: list[str], env=None) -> str:
    r = subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.mark.slow
@needs_avx512
def test_an_avx2_host_draws_every_pipelines_specs_to_the_last_bit(head_model):
    """The scene specs are a corpus' bytes (manifest and shards keep them): numpy's exp on AVX-512 drew
    garment patterns and apertures a last bit away from an AVX2 host's."""
    assert _run(["-c", SPECS], avx2_host_env()) == _run(["-c", SPECS], native_env())


@pytest.mark.slow
@needs_avx512
def test_an_avx2_host_renders_the_same_corpus(head_model, tmp_path):
    """Every part and label of `realistic`, rendered by `relhead render` here and as on an AVX2 host (cpu.py):
    the same bytes, images and labels. Before relhead.exact they differed in the labels' last bits (BLAS'
    and MKL's kernels: landmarks, cameras, pairs, gaze, dense and 3D landmarks) and in a few pixels
    (numpy's AVX-512 exp, power and arctan2 in the parts' geometry)."""
    cli = "import sys; from relhead.cli import main; sys.exit(main(sys.argv[1:]))"
    for where, env in (("here", native_env()), ("avx2", avx2_host_env())):  # MKL's mode is relhead's to set
        _run(["-c", cli, "render", "--pipeline", "realistic", "--out", str(tmp_path / where),
              *[a for s in EVERY_PART for a in ("--set", s)]], env)
    here, avx2 = tmp_path / "here" / "realistic", tmp_path / "avx2" / "realistic"
    assert (avx2 / "shard-000000.tar").read_bytes() == (here / "shard-000000.tar").read_bytes()
    assert (avx2 / "manifest.json").read_bytes() == (here / "manifest.json").read_bytes()
