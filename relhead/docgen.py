"""docs/configuration.md, generated from the config models, so the reference cannot drift from them.

    python -m relhead.docgen            # rewrite docs/configuration.md (run from the repository root)
    python -m relhead.docgen --check    # exit 1 if the committed file differs (tests/test_docs.py does this)

The key tables come from the pydantic models (relhead/config.py, the head backends' sections in
assets/*.py, the training config in train/config.py and its sections): each field's type and bounds,
default and `description`, and each section's docstring. The named pipelines, sweeps and trainings come
from the `pipelines.yaml` installed with relhead. To change the reference, change a model or that file
and run the command above. It sits on top of the layers, like the CLI (tests/test_contracts.py).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

OUT = Path("docs/configuration.md")

# The prose about each part (how it looks, what it costs) lives in hand-written pages; a section links there.
MORE = {
    "render": "[scene.md, Render presets](scene.md#render-presets)",
    "head": "[scene.md, Head-model backends](scene.md#head-model-backends)",
    "skin": "[scene.md, Skin](scene.md#skin)",
    "hair": "[scene.md, Hair](scene.md#hair)",
    "clothing": "[scene.md, Garments](scene.md#garments)",
    "accessories": "[scene.md, Glasses and hats](scene.md#glasses-and-hats)",
    "lighting": "[scene.md, Lighting and backgrounds](scene.md#lighting-and-backgrounds)",
    "effects": "[scene.md, Camera effects](scene.md#camera-effects)",
    "pairs": "[corpora.md, Pair policies](corpora.md#pair-policies)",
    "clip": "[corpora.md, Temporal clips](corpora.md#temporal-clips)",
    "labels": "[corpora.md, Extra labels](corpora.md#extra-labels)",
}


# ------------------------------------------------------------------------------------------ values
def _value(v: Any) -> str:
    """A value as it is written in pipelines.yaml (YAML flow style)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, BaseModel):
        return _value(v.model_dump(mode="json"))
    return str(v)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


# ------------------------------------------------------------------------------------------- types
def _bounds(meta: list) -> str:
    lo = hi = None
    lo_open = hi_open = False
    for m in meta:
        for attr, is_lo, is_open in (("ge", True, False), ("gt", True, True), ("le", False, False), ("lt", False, True)):
            v = getattr(m, attr, None)
            if v is not None:
                if is_lo:
                    lo, lo_open = v, is_open
                else:
                    hi, hi_open = v, is_open
    if lo is not None and hi is not None:
        hi_text = "2^63" if hi == 2**63 else _value(hi)
        return f"{'(' if lo_open else '['}{_value(lo)}, {hi_text}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_value(lo)}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {_value(hi)}"
    return ""


def _choices(ann) -> str:
    names = [_code(str(a)) for a in get_args(ann)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _is_range(ann, meta: list) -> bool:
    args = get_args(ann)
    return get_origin(ann) is tuple and len(args) == 2 and any(type(m).__name__ == "AfterValidator" for m in meta) \
        and all(get_origin(a) is typing.Annotated for a in args)


def type_text(ann, meta: list | tuple = ()) -> str:
    """What a field takes, in words: `[min, max]` in [lo, hi], one of the names, a number in bounds..."""
    meta = list(meta)
    origin = get_origin(ann)
    if _is_range(ann, meta):
        item = get_args(ann)[0]
        return f"[min, max] in {_bounds(list(get_args(item)[1].metadata))}"
    if origin is Literal:
        return "one of " + _choices(ann) if len(get_args(ann)) > 1 else _choices(ann)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        text = " or ".join(type_text(a, meta) for a in args)
        return text + (" or null" if len(args) < len(get_args(ann)) else "")
    if origin is tuple:
        args = get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = args[0]
            what = "names from " + _choices(inner) if get_origin(inner) is Literal else "names"
            return f"a list of {what}"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin is dict:
        return "a mapping"
    if origin is typing.Annotated:
        return type_text(get_args(ann)[0], meta)
    bounds = _bounds(meta)
    base = {bool: "true or false", int: "integer", float: "number", str: "text"}.get(ann, getattr(ann, "__name__", str(ann)))
    return f"{base} in {bounds}" if bounds and bounds.startswith(("[", "(")) else f"{base} {bounds}".strip()


# ------------------------------------------------------------------------------------------ tables
def _section_model(ann) -> type[BaseModel] | None:
    for a in (ann, *get_args(ann)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _doc(model: type) -> str:
    doc = model.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(doc).split()) if doc else ""


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is not None:
        return _value(field.default_factory())
    if field.default is PydanticUndefined:
        return "(required)"
    return _value(field.default)


def key_table(model: type[BaseModel], prefix: str = "", skip: tuple[str, ...] = ()) -> list[str]:
    """The table of a model's own keys (sections are left to their own tables)."""
    rows = ["| key | takes | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip or _section_model(field.annotation):
            continue
        rows.append(f"| `{prefix}{name}` | {_cell(type_text(field.annotation, field.metadata))} | "
                    f"{_code(_cell(_default(field)))} | {_cell(field.description or '')} |")
    return rows


def sections(model: type[BaseModel], prefix: str, level: int, skip: tuple[str, ...] = ()) -> list[str]:
    """A heading, the section's docstring and table per nested section of `model`, depth first."""
    out = []
    for name, field in model.model_fields.items():
        sub = _section_model(field.annotation)
        if name in skip or sub is None:
            continue
        key = f"{prefix}{name}"
        out += [f"{'#' * level} `{key}`", ""]
        text = " ".join(_sentence(t) for t in (_doc(sub), field.description or "") if t)
        if field.default is None:
            text += f" `{key}: {{}}` switches it on with the defaults below."
        if MORE.get(key):
            text += f" More: {MORE[key]}."
        if text.strip():
            out += [text.strip(), ""]
        out += key_table(sub, key + ".") + [""]
        out += sections(sub, key + ".", level + 1)
    return out


# ------------------------------------------------------------------------------------------- named
def _flat(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append(f"`{prefix}{k}: {_value(v)}`")
    return out


def _named(entries: dict, what: str) -> list[str]:
    out = []
    for name, raw in entries.items():
        raw = dict(raw or {})
        desc = " ".join(str(raw.pop("description", "")).split())
        parent = raw.pop("inherit", None) or raw.pop("base", None)
        out += [f"- **`{name}`**" + (f" ({what} `{parent}`)" if parent else "") + (f": {desc}" if desc else "")]
        if raw:
            out += ["  Sets " + ", ".join(_flat(raw)) + "."]
    return out


def _presets() -> list[str]:
    from relhead.config import RENDER_PRESETS

    keys = list(next(iter(RENDER_PRESETS.values())))
    rows = ["| key | " + " | ".join(f"`{p}`" for p in RENDER_PRESETS) + " |", "|---" * (len(RENDER_PRESETS) + 1) + "|"]
    for k in keys:
        rows.append(f"| `render.{k}` | " + " | ".join(_code(_value(v[k])) for v in RENDER_PRESETS.values()) + " |")
    return rows


def _model_presets() -> list[str]:
    import dataclasses

    from relhead.train.model import PRESETS

    rows = ["| field | " + " | ".join(f"`{p}`" for p in PRESETS) + " |", "|---" * (len(PRESETS) + 1) + "|"]
    for f in dataclasses.fields(next(iter(PRESETS.values()))):
        rows.append(f"| `{f.name}` | " + " | ".join(_code(_value(getattr(p, f.name))) for p in PRESETS.values()) + " |")
    return rows


# ---------------------------------------------------------------------------------------- the page
def configuration_md() -> str:
    """The text of docs/configuration.md."""
    from relhead.assets import registry
    from relhead.assets.base import HeadCfg
    from relhead.config import PIPELINES_FILE, PipelineConfig, SweepCfg, load_pipelines
    from relhead.train.config import TrainConfig

    doc = load_pipelines(PIPELINES_FILE)
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m relhead.docgen` from the config models; do not edit by hand:",
        "     tests/test_docs.py fails when this file differs from what the models generate. -->",
        "",
        "*Generated from the config models (`relhead/config.py`, the head backends' sections in `assets/`, "
        "`train/config.py` and the sections it uses) and the `pipelines.yaml` installed with relhead, by "
        "`python -m relhead.docgen`.*",
        "",
        "A pipeline in `pipelines.yaml` lists overrides of the defaults below; `inherit: NAME` starts from "
        "another pipeline, and `relhead render --set key=value` overrides any key on the command line (the "
        "value is read as YAML: `--set pose.yaw_deg=[-90,90]`). relhead reads the `pipelines.yaml` in the "
        "current folder if there is one, else the one installed with it (`relhead/pipelines.yaml`); "
        "`--config FILE` names another. Every key is checked: an unknown key, a wrong type or a value out of "
        "its bounds is one line naming the key and what is allowed, exit code 2, nothing written. A range "
        "`[min, max]` needs min <= max, each within the bounds shown, and a value is drawn uniformly from it "
        "unless the meaning says otherwise. A key added in a later version defaults to what relhead did "
        "before it existed, so a corpus' recorded config always describes its data.",
        "",
        "Contents: [shipped pipelines](#shipped-pipelines), [sweeps](#shipped-sweeps), "
        "[trainings](#shipped-trainings); [pipeline keys](#pipeline-keys), [render presets](#render-presets), "
        "[head-model backends](#head), [sweep keys](#sweep-keys), [training keys](#training-keys), "
        "[model presets](#model-presets).",
        "",
        "## Shipped pipelines",
        "",
        *_named(doc["pipelines"], "inherits"),
        "",
        "## Shipped sweeps",
        "",
        "`relhead sweep NAME --out DIR` renders one corpus per combination of the axes "
        "([corpora.md, Sweeps](corpora.md#sweeps)).",
        "",
        *_named(doc.get("sweeps") or {}, "base"),
        "",
        "## Shipped trainings",
        "",
        "`relhead train --training NAME` ([training.md](training.md)); the default is `small-cpu`.",
        "",
        *_named(doc.get("trainings") or {}, "inherits"),
        "",
        "## Pipeline keys",
        "",
        *key_table(PipelineConfig, skip=("head",)),
        "",
        *sections(PipelineConfig, "", 3, skip=("head",)),
        "## Render presets",
        "",
        "`render.preset` fills every `render.` key below that the pipeline or `--set` leaves unset "
        "(`relhead/config.py`, `RENDER_PRESETS`); measured speed and quality: "
        "[scene.md, Render presets](scene.md#render-presets).",
        "",
        *_presets(),
        "",
        "## `head`",
        "",
        "The `head:` section is the chosen backend's (`head.model`): the keys every backend shares, then "
        f"each built-in backend's own. Only the chosen backend's keys are allowed. {_doc(HeadCfg)} "
        f"More: {MORE['head']}.",
        "",
        *key_table(HeadCfg, "head."),
        "",
        *sections(HeadCfg, "head.", 3),
    ]
    for name in registry.names():
        cfg = registry.backend(name).config
        if not cfg.__module__.startswith("relhead."):  # a third party's (the tests' fake head)
            continue
        own = tuple(k for k in HeadCfg.model_fields)
        lines += [f"### `head.model: {name}`", "", _doc(cfg), "", *key_table(cfg, "head.", skip=own), ""]
    lines += [
        "## Sweep keys",
        "",
        f"An entry of `sweeps:` in `pipelines.yaml`. {_doc(SweepCfg)} The axes' keys are pipeline keys; "
        "every combination is validated as a pipeline.",
        "",
        *key_table(SweepCfg),
        "",
        "## Training keys",
        "",
        "An entry of `trainings:` in `pipelines.yaml` (`inherit` works as for pipelines), overridden with "
        "`relhead train --set key=value`; `--model`, `--mode` and `--init` set `model.preset`, `mode` and "
        "`init`. Checked like pipeline keys.",
        "",
        *key_table(TrainConfig),
        "",
        *sections(TrainConfig, "", 3),
        "## Model presets",
        "",
        "`model.preset` names a `relhead.train.model.ModelConfig`; `model.overrides` replaces some of its "
        "fields.",
        "",
        *_model_presets(),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m relhead.docgen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(OUT), help=f"the file to write or check (default {OUT})")
    p.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated text")
    args = p.parse_args(argv)
    text, out = configuration_md(), Path(args.out)
    if args.check:
        same = out.is_file() and out.read_text() == text
        print(f"{out}: {'up to date' if same else 'differs from the config models; run python -m relhead.docgen'}")
        return 0 if same else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
