"""Import contracts (fast tier): data flows one way through the layers below, bpy stays inside
render/blender/, and the bpy-free modules import and work in a process where bpy cannot be imported
at all."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"relhead": "relhead", "render": "relhead.render", "assets": "relhead.assets",
            "datasets": "relhead.datasets", "train": "relhead.train"}  # folder -> the package it installs as
BLENDER_MODULES = {"bpy", "mathutils", "bmesh", "_bpy"}

# The layers, lowest first, along the data flow (config -> spec -> render -> sample -> shard -> reader
# -> pairs -> model -> metrics): a module imports only from its own layer and the layers below it.
LAYERS = [
    ("relhead", "relhead.configbase", "relhead.frames", "relhead.exact", "relhead.files"),  # the config base, the frame
    # conventions, arithmetic with the same bits on every CPU, atomic writes and file hashes
    ("relhead.assets",),  # what there is to render: head-model backends, HDRIs, photos, textures
    ("relhead.config",),  # the pipeline schema, and the style names the scene spec records
    ("relhead.render",),  # config -> scene spec -> rendered, labelled views
    ("relhead.datasets",),  # samples, shards, manifests, corpora, pairs
    ("relhead.train",),  # reader -> model -> metrics
    ("relhead.cli", "relhead.docgen"),  # the command line (and the docs generator), on top of everything
]


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of a relhead module (its longest matching prefix), or None."""
    best = None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (i, name)
    return best and best[0]


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


def uses_blender(path: Path) -> bool:
    return bool({m.split(".")[0] for m in imports_of(path)} & BLENDER_MODULES)


def test_nothing_imports_against_the_flow():
    """No module imports a layer above its own: the config never imports the spec it is sampled
    into, render/ never imports datasets/ or train/, datasets/ never imports train/, and only the
    CLI imports the CLI."""
    bad = []
    for f in code_files():
        own = layer_of(module_of(f))
        for m in imports_of(f):
            theirs = layer_of(m) if m.startswith("relhead") else None
            if theirs is not None and theirs > own:
                bad.append(f"{f.relative_to(ROOT)} imports {m}")
    assert bad == []


def test_render_keeps_its_three_layers_apart():
    """Inside render/: the spec layer (spec, sampling, views, labels) imports neither parts/ nor
    blender/; parts/ (the parts' geometry) never imports blender/; and blender/ is imported only by
    itself and by group.py, which renders a group through it."""
    bad = []
    for f in sorted((ROOT / "render").rglob("*.py")):
        sub = f.relative_to(ROOT / "render").parts
        for m in imports_of(f):
            if m.startswith("relhead.render.blender") and sub[0] not in ("blender", "group.py"):
                bad.append(f"{f.relative_to(ROOT)} imports {m}")
            if m.startswith("relhead.render.parts") and sub[0] not in ("blender", "parts"):
                bad.append(f"{f.relative_to(ROOT)} imports {m}")
    assert bad == []


def test_only_render_blender_imports_blender():
    """The folder is the rule (a new scene part's Blender module needs no entry here)."""
    offenders = [f.relative_to(ROOT).as_posix() for f in code_files()
                 if uses_blender(f) and f.relative_to(ROOT).parts[:2] != ("render", "blender")]
    assert offenders == []


# Every packaged module outside render/blender/, but the Anny backend and the trainer's modules (they
# import torch, slow to import; test_only_render_blender_imports_blender covers them statically).
HEAVY = ("relhead.assets.anny_head", "relhead.train.")
BPY_FREE = sorted(module_of(f) for f in code_files() if (f.parent / "__init__.py").exists()
                  and not module_of(f).startswith(("relhead.render.blender", *HEAVY)))


@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
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
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}  # fake_head and synthetic, as pytest finds them
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok []"


def test_nothing_points_outside_the_repository():
    """A clone has everything its code, tests and docs name: no path into the folder beside it."""
    outside = ("../" + "shared", "/work/" + "shared")
    skip = {".git", ".venv", "build", "data", "__pycache__", ".pytest_cache"}
    bad = []
    for f in ROOT.rglob("*"):
        rel = f.relative_to(ROOT)
        if (f.is_file() and f.suffix in {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt", ".tsv", ""}
                and not skip & set(rel.parts) and not any(p.endswith(".egg-info") for p in rel.parts)):
            text = f.read_text(errors="replace")
            bad += [f"{rel.as_posix()}: {s}" for s in outside if s in text]
    assert bad == []
