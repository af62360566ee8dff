"""Import contracts (fast tier): bpy stays inside render/, data flows one way, and the bpy-free
modules import and work in a process where bpy cannot be imported at all."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"relhead": "relhead", "render": "relhead.render", "assets": "relhead.assets",
            "datasets": "relhead.datasets", "train": "relhead.train"}
BLENDER_MODULES = {"bpy", "mathutils", "bmesh", "_bpy"}


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def code_files():
    for folder in PACKAGES:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_only_render_imports_blender():
    offenders = [f.relative_to(ROOT).as_posix() for f in code_files()
                 if f.parts[len(ROOT.parts)] != "render" and {m.split(".")[0] for m in imports_of(f)} & BLENDER_MODULES]
    assert offenders == []


def test_blender_modules_are_few_and_known():
    users = sorted(f.relative_to(ROOT).as_posix() for f in code_files()
                   if {m.split(".")[0] for m in imports_of(f)} & BLENDER_MODULES)
    assert users == [f"render/blender/{m}.py" for m in ("camera", "compositor", "garment", "glasses", "hair", "head",
                                                          "lights", "mpfb_nodes", "nodes", "part", "scene", "settings",
                                                          "world")]


def test_nothing_imports_against_the_flow():
    """render/ never imports datasets/ or train/; assets/ imports neither render/ nor datasets/;
    datasets/ never imports train/."""
    forbidden = {"render": ("relhead.datasets", "relhead.train"),
                 "assets": ("relhead.render", "relhead.datasets", "relhead.train"),
                 "datasets": ("relhead.train",)}
    bad = []
    for f in code_files():
        top = f.parts[len(ROOT.parts)]
        for m in imports_of(f):
            if m.startswith(forbidden.get(top, ())):
                bad.append(f"{f.relative_to(ROOT)} imports {m}")
    assert bad == []


BPY_FREE = ["relhead.config", "relhead.frames", "relhead.cli", "relhead.assets.registry", "relhead.assets.hdri",
            "relhead.render.spec", "relhead.render.sampling", "relhead.render.parts.garment", "relhead.render.parts.glasses", "relhead.render.parts.hats", "relhead.render.parts.surface", "relhead.render.parts.hair", "relhead.render.views", "relhead.render.labels", "relhead.render.group",
            "relhead.datasets.sample", "relhead.datasets.shards", "relhead.datasets.pairs",
            "relhead.datasets.manifest", "relhead.datasets.verify", "relhead.datasets.preview",
            "relhead.datasets.generate", "relhead.datasets.sweep", "relhead.datasets.lease", "relhead.train"]


def test_sampling_spec_shards_and_verify_work_where_bpy_cannot_be_imported(tmp_path):
    """In a process where `import bpy` fails: import every bpy-free module, sample a spec, write a
    synthetic corpus and verify it."""
    script = f"""
import sys
for name in {sorted(BLENDER_MODULES)!r}:
    sys.modules[name] = None  # any import of these now raises ImportError
import importlib
for m in {BPY_FREE!r}:
    importlib.import_module(m)
sys.path.insert(0, {str(ROOT / "tests")!r})
import fake_head; fake_head.register()
from relhead.config import resolve
from relhead.datasets.verify import verify_corpus
from synthetic import synthetic_corpus
cfg = resolve("test", ["head.model=fake", "image.width=48", "image.height=48"])
out = synthetic_corpus(cfg, {str(tmp_path / "c")!r})
problems, warns = verify_corpus(out, progress=False)
assert problems == [], problems
print("ok", sorted(m for m in sys.modules if m.split(".")[0] in {sorted(BLENDER_MODULES)!r} and sys.modules[m]))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok []"
