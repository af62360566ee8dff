"""Pipeline configuration: pipelines.yaml -> a validated, frozen config.

A pipeline is a mapping of overrides on top of the defaults below; `inherit: NAME` starts from
another pipeline. Every key is checked: an unknown key, a wrong type or a value out of range is a
:class:`ConfigError` whose message is one line naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration problem, phrased as one line for the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _range(lo: float | None = None, hi: float | None = None):
    """A [min, max] pair of floats, each within [lo, hi]."""
    item = Annotated[float, Field(ge=lo, le=hi)] if lo is not None or hi is not None else float
    return Annotated[tuple[item, item], Field()]


class _RangeCheck(_Strict):
    @model_validator(mode="after")
    def _ordered(self):
        for name, value in self:
            if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):
                if value[0] > value[1]:
                    raise ValueError(f"{name}: [min, max] needs min <= max, got {list(value)}")
        return self


class ImageCfg(_Strict):
    width: int = Field(256, ge=32, le=8192)
    height: int = Field(256, ge=32, le=8192)
    format: Literal["png", "jpg", "webp"] = "png"
    quality: int = Field(95, ge=1, le=100)


class RenderCfg(_Strict):
    engine: Literal["cycles", "eevee", "workbench"] = "cycles"
    device: Literal["cpu", "gpu"] = "cpu"
    samples: int = Field(16, ge=1, le=65536)
    adaptive_threshold: float = Field(0.0, ge=0.0, le=1.0)
    denoise: bool = True
    view_transform: Literal["AgX", "Filmic", "Standard"] = "AgX"
    threads: int = Field(0, ge=0, le=1024)


class ExpressionCfg(_RangeCheck):
    neutral_fraction: float = Field(0.3, ge=0.0, le=1.0)
    max_actions: int = Field(3, ge=1, le=52)
    weight: _range(0.0, 1.0) = (0.2, 0.9)
    per_view: bool = False


class HeadCfg(_RangeCheck):
    model: Literal["anny"] = "anny"
    age_years: _range(1.0, 90.0) = (18.0, 75.0)
    local_change_scale: float = Field(0.6, ge=0.0, le=1.0)
    local_change_fraction: float = Field(0.5, ge=0.0, le=1.0)
    expression: ExpressionCfg = ExpressionCfg()
    gaze_yaw_deg: _range(-40.0, 40.0) = (-20.0, 20.0)
    gaze_pitch_deg: _range(-30.0, 30.0) = (-15.0, 15.0)


class PoseCfg(_RangeCheck):
    yaw_deg: _range(-180.0, 180.0) = (-60.0, 60.0)
    pitch_deg: _range(-90.0, 90.0) = (-30.0, 30.0)
    roll_deg: _range(-90.0, 90.0) = (-20.0, 20.0)
    articulation: float = Field(0.5, ge=0.0, le=1.0, description="share of the head rotation done by the neck")
    articulation_jitter: float = Field(0.2, ge=0.0, le=1.0)


class CameraCfg(_RangeCheck):
    focal_mm: _range(5.0, 1000.0) = (35.0, 85.0)
    sensor_mm: float = Field(36.0, gt=0.0)
    face_fill: _range(0.05, 1.0) = (0.35, 0.55)
    principal_jitter: float = Field(0.02, ge=0.0, le=0.2)
    lookat_jitter: float = Field(0.05, ge=0.0, le=0.5)


class LightingCfg(_RangeCheck):
    hdris: list[str] | Literal["bundled"] = "bundled"
    hdri_dir: str | None = None
    strength: _range(0.0, 100.0) = (0.6, 1.6)
    background: Literal["hdri", "color", "mixed"] = "mixed"
    color_background_fraction: float = Field(0.3, ge=0.0, le=1.0)


class PairsCfg(_RangeCheck):
    policy: Literal["all", "neutral-anchor", "random", "easy", "hard"] = "all"
    k: int = Field(4, ge=1, description="pairs per group for policy 'random'")
    easy_max_deg: float = Field(30.0, ge=0.0, le=180.0)
    hard_min_deg: float = Field(45.0, ge=0.0, le=180.0)


class PipelineConfig(_Strict):
    name: str = "unnamed"
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63)
    shards: int = Field(1, ge=1)
    groups_per_shard: int = Field(4, ge=1)
    views: int = Field(4, ge=2, le=64)
    image: ImageCfg = ImageCfg()
    render: RenderCfg = RenderCfg()
    head: HeadCfg = HeadCfg()
    pose: PoseCfg = PoseCfg()
    camera: CameraCfg = CameraCfg()
    lighting: LightingCfg = LightingCfg()
    pairs: PairsCfg = PairsCfg()

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def hash(self) -> str:
        """Hash of everything that changes the data (the name and description do not)."""
        d = self.to_dict()
        d.pop("name"), d.pop("description")
        d["render"].pop("threads")  # Cycles renders the same pixels with any thread count
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def num_groups(self) -> int:
        return self.shards * self.groups_per_shard


def _allowed(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at the parent of `loc` (for 'unknown key' messages)."""
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return sorted(model.model_fields)


def _one_line(err: ValidationError, model: type[BaseModel]) -> str:
    e = err.errors()[0]
    loc = tuple(p for p in e["loc"] if not str(p).startswith(("function-", "tuple[")))
    key = ".".join(str(p) for p in loc) or "(pipeline)"
    if e["type"] == "extra_forbidden":
        return f"{key}: unknown key; allowed here: {', '.join(_allowed(model, loc))}"
    msg = e["msg"].replace("Value error, ", "")
    ctx_input = e.get("input")
    got = "" if isinstance(ctx_input, dict) else f" (got {ctx_input!r})"
    return f"{key}: {msg}{got}"


def _set_dotted(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{dotted}: '{p}' is not a section")
        d = nxt
    d[parts[-1]] = value


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_pipelines_file() -> Path:
    """./pipelines.yaml when present (the user's copy), else the repository's."""
    local = Path.cwd() / "pipelines.yaml"
    return local if local.exists() else PACKAGE_ROOT / "pipelines.yaml"


def load_pipelines(path: str | Path | None = None) -> dict:
    path = Path(path) if path else default_pipelines_file()
    if not path.exists():
        raise ConfigError(f"{path}: no such pipelines file")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("pipelines"), dict):
        raise ConfigError(f"{path}: needs a top-level 'pipelines:' mapping")
    return doc


def _resolve_raw(pipelines: dict, name: str, seen: tuple = ()) -> dict:
    if name not in pipelines:
        raise ConfigError(f"pipeline '{name}' not found; known: {', '.join(sorted(pipelines))}")
    if name in seen:
        raise ConfigError(f"pipeline '{name}': inherit cycle {' -> '.join(seen + (name,))}")
    raw = pipelines[name] or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"pipeline '{name}': must be a mapping of keys")
    raw = dict(raw)
    parent = raw.pop("inherit", None)
    if parent is not None:
        raw = _deep_merge(_resolve_raw(pipelines, parent, seen + (name,)), raw)
    return raw


def parse_overrides(pairs: list[str]) -> list[tuple[str, Any]]:
    """'key.sub=value' strings -> (key, YAML-parsed value)."""
    out = []
    for s in pairs or []:
        key, sep, value = s.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {s!r}: expected key=value, e.g. render.samples=32")
        try:
            out.append((key.strip(), yaml.safe_load(value)))
        except yaml.YAMLError:
            raise ConfigError(f"--set {s!r}: value is not valid YAML") from None
    return out


def build_config(raw: dict, name: str = "unnamed", overrides: list[str] | None = None,
                 values: dict[str, Any] | None = None) -> PipelineConfig:
    """raw pipeline mapping + `--set` strings + {dotted key: value} -> validated config."""
    raw = copy.deepcopy(raw)
    raw.setdefault("name", name)
    for key, value in parse_overrides(overrides or []) + list((values or {}).items()):
        _set_dotted(raw, key, value)
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_one_line(err, PipelineConfig)) from None


def resolve(name: str, overrides: list[str] | None = None, path: str | Path | None = None) -> PipelineConfig:
    """Named pipeline from pipelines.yaml + --set overrides -> validated config."""
    pipelines = load_pipelines(path)["pipelines"]
    return build_config(_resolve_raw(pipelines, name), name=name, overrides=overrides)


# ---------------------------------------------------------------------------------------- sweeps
class Combination(BaseModel):
    """One corpus of a sweep: its folder name, the axis values it sets, and its config."""

    name: str
    values: dict[str, Any]
    config: PipelineConfig


def _slug(value: Any) -> str:
    text = "-".join(map(_slug, value)) if isinstance(value, (list, tuple)) else f"{value:g}" if isinstance(value, float) else str(value)
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)


def resolve_sweep(name: str, overrides: list[str] | None = None, path: str | Path | None = None) -> list[Combination]:
    """Every combination of a sweep's axes (cartesian product, in the order written), validated.

    A sweep is `sweeps: NAME: {base: PIPELINE, set: {overrides like a pipeline's}, axes: {dotted.key: [v1, v2, ...]}}`;
    all combinations share the base's seed, so they render the same subjects and poses and differ
    only along the axes."""
    doc = load_pipelines(path)
    sweeps = doc.get("sweeps") or {}
    if name not in sweeps:
        raise ConfigError(f"sweep '{name}' not found; known: {', '.join(sorted(sweeps)) or '(none)'}")
    sw = sweeps[name]
    if not isinstance(sw, dict) or set(sw) - {"base", "set", "axes", "description"} or "axes" not in sw or "base" not in sw:
        raise ConfigError(f"sweep '{name}': needs 'base' and 'axes' (optional: 'set', 'description')")
    axes = sw["axes"]
    if not isinstance(axes, dict) or not axes or not all(isinstance(v, list) and v for v in axes.values()):
        raise ConfigError(f"sweep '{name}': axes must map dotted keys to non-empty lists of values")
    raw = _deep_merge(_resolve_raw(doc["pipelines"], sw["base"]), sw.get("set") or {})
    leaves = [k.split(".")[-1] for k in axes]
    labels = [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(axes, leaves)]
    combos = []
    for n, chosen in enumerate(itertools.product(*axes.values())):
        values = dict(zip(axes, chosen))
        label = "_".join(f"{lab}={_slug(v)}" for lab, v in zip(labels, chosen))
        try:
            cfg = build_config(raw, name=f"{name}/{n:03d}", overrides=overrides, values=values)
        except ConfigError as exc:
            raise ConfigError(f"sweep '{name}', combination {values}: {exc}") from None
        combos.append(Combination(name=f"{n:03d}_{label}", values=values, config=cfg))
    return combos
