"""The config base every relhead config is built on: strict frozen models, a checked [min, max] range
type, YAML files of named entries with `inherit`, `--set key=value` overrides, and one-line errors.

A schema subclasses :class:`Strict`; :func:`validate` turns a raw mapping plus overrides into a
validated instance or raises :class:`ConfigError` whose message is one line naming the dotted key
and what is allowed (e.g. ``render.sampels: unknown key; allowed here: denoise, engine, ...``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


class ConfigError(ValueError):
    """A configuration problem, phrased as one line for the user."""


class Strict(BaseModel):
    """Unknown keys are errors; validated configs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def field_model(cls, name: str, raw: Any) -> type[BaseModel] | None:
        """The model class field `name` takes for the raw value `raw`, where it depends on the
        value (e.g. the head section of the chosen head-model backend); None: the annotation's."""
        return None


def key_error(title: str, loc: tuple, message: str, value: Any) -> ValidationError:
    """A validation error at `loc` (relative to the model being validated), for checks that span
    several keys or pick a section's schema; raise it from a validator."""
    err = PydanticCustomError("relhead", message.replace("{", "{{").replace("}", "}}"))
    return ValidationError.from_exception_data(title, [InitErrorDetails(type=err, loc=loc, input=value)])


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError("[min, max] needs min <= max")
    return value


def Range(lo: float | None = None, hi: float | None = None):  # noqa: N802 (a type factory)
    """A `[min, max]` pair of floats with min <= max, each within [lo, hi] (checked per field)."""
    item = Annotated[float, Field(ge=lo, le=hi)]
    return Annotated[tuple[item, item], AfterValidator(_ordered)]


def _field_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    """The model class a field of `model` is annotated with, if any."""
    ann = getattr(model.model_fields.get(name), "annotation", None)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():  # Annotated[...] / SerializeAsAny[...]
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _allowed(model: type[BaseModel], loc: tuple, raw: dict) -> list[str]:
    """Field names allowed at the parent of `loc`."""
    node: Any = raw
    for part in loc[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        pick = getattr(model, "field_model", None)
        model = (pick(part, node) if pick else None) or _field_model(model, part)
        if model is None:
            return []
    return sorted(model.model_fields)


def one_line(err: ValidationError, model: type[BaseModel], raw: dict | None = None) -> str:
    """The first error of a pydantic ValidationError as `dotted.key: what is wrong (got X)`."""
    e = err.errors()[0]
    loc = tuple(p for p in e["loc"] if not str(p).startswith(("function-", "tuple[")))
    key = ".".join(str(p) for p in loc) or "(top level)"
    if e["type"] == "extra_forbidden":
        return f"{key}: unknown key; allowed here: {', '.join(_allowed(model, loc, raw or {}))}"
    msg = e["msg"].replace("Value error, ", "")
    got = e.get("input")
    return f"{key}: {msg}" + ("" if isinstance(got, dict) else f" (got {got!r})")


# ------------------------------------------------------------------------------ files and overrides
def load_yaml(path: str | Path, section: str) -> dict:
    """A YAML file whose top level holds a `section:` mapping of named entries."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the YAML file, e.g. {path / 'pipelines.yaml'}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as a YAML file ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(section), dict):
        raise ConfigError(f"{path}: needs a top-level '{section}:' mapping")
    return doc


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_inherit(entries: dict, name: str, kind: str = "pipeline", seen: tuple = ()) -> dict:
    """Entry `name` of `entries` with its `inherit: OTHER` chain merged in (OTHER first)."""
    if name not in entries:
        raise ConfigError(f"{kind} '{name}' not found; known: {', '.join(sorted(entries)) or '(none)'}")
    if name in seen:
        raise ConfigError(f"{kind} '{name}': inherit cycle {' -> '.join(seen + (name,))}")
    raw = entries[name] or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{kind} '{name}': must be a mapping of keys")
    raw = dict(raw)
    parent = raw.pop("inherit", None)
    if parent is not None:
        raw = deep_merge(resolve_inherit(entries, parent, kind, seen + (name,)), raw)
    return raw


def parse_overrides(pairs: list[str] | None, example: str = "render.samples=32") -> list[tuple[str, Any]]:
    """'key.sub=value' strings -> (key, YAML-parsed value)."""
    out = []
    for s in pairs or []:
        key, sep, value = s.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {s!r}: expected key=value, e.g. {example}")
        try:
            out.append((key.strip(), yaml.safe_load(value)))
        except yaml.YAMLError:
            raise ConfigError(f"--set {s!r}: value is not valid YAML") from None
    return out


def set_dotted(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{dotted}: '{p}' is not a section")
        d = nxt
    d[parts[-1]] = value


def validate(schema: type[BaseModel], raw: dict, overrides: list[str] | None = None,
             values: dict[str, Any] | None = None, example: str = "render.samples=32"):
    """raw mapping + `--set` strings + {dotted key: value} -> a validated `schema` instance."""
    raw = copy.deepcopy(raw)
    for key, value in parse_overrides(overrides, example) + list((values or {}).items()):
        set_dotted(raw, key, value)
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(one_line(err, schema, raw)) from None
