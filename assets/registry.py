"""Head-model backends by name: each one's config section, identity type and builder; built models
are cached per process by (name, build settings).

Built in: `anny`, and `flame` for licence holders (it reads their own model files). Another backend
is a plugin: an installed distribution names it in the entry-point group `relhead.head_models`
(`mine = "my_package.head:BACKEND"`, a `Backend` or a callable returning one), loaded the first time a
name is not a built-in; or a program registers it with :func:`register` before a config naming it is
validated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

from relhead.assets.base import HeadCfg, HeadModel, Identity


@dataclass(frozen=True)
class Backend:
    name: str
    config: type[HeadCfg]  # the `head:` section when head.model == name
    identity: type[Identity]  # the spec's head.identity
    build: Callable[[HeadCfg], HeadModel]  # constructs the model from the config's build settings


_BACKENDS: dict[str, Backend] = {}
_BUILT: dict[tuple[str, str], HeadModel] = {}
ENTRY_POINTS = "relhead.head_models"


def register(backend: Backend) -> None:
    _BACKENDS[backend.name] = backend


def _plugin(name: str) -> Backend | None:
    """The backend an installed distribution names `name` in the entry-point group
    `relhead.head_models` (a Backend, or a callable returning one), or None."""
    for ep in entry_points(group=ENTRY_POINTS, name=name):
        try:
            obj = ep.load()
            b = obj if isinstance(obj, Backend) else obj()
        except Exception as e:  # a broken plugin names itself, whatever it raised
            raise RuntimeError(f"head-model plugin {name!r} ({ep.value}, entry point group {ENTRY_POINTS}) "
                               f"failed to load: {type(e).__name__}: {e}") from e
        if not isinstance(b, Backend) or b.name != name:
            raise RuntimeError(f"head-model plugin {name!r} ({ep.value}) gave {b!r}, not a "
                               f"relhead.assets.registry.Backend named {name!r}")
        return b
    return None


def names() -> list[str]:
    """Registered backends and the plugins installed (not loaded until a config names one)."""
    return sorted(set(_BACKENDS) | {ep.name for ep in entry_points(group=ENTRY_POINTS)})


def backend(name: str) -> Backend:
    if name not in _BACKENDS:
        plugin = _plugin(name)
        if plugin is not None:
            register(plugin)
    if name not in _BACKENDS:
        raise KeyError(f"unknown head-model backend {name!r}; known: {', '.join(names())}")
    return _BACKENDS[name]


def get_head_model(cfg: HeadCfg | None = None) -> HeadModel:
    """The backend `cfg.model` built with `cfg`'s build settings, once per process (loading a
    model is the slow part); a config with other build settings gets its own instance."""
    cfg = cfg or backend("anny").config()
    key = (cfg.model, json.dumps(cfg.build_settings(), sort_keys=True))
    if key not in _BUILT:
        _BUILT[key] = backend(cfg.model).build(cfg)
    return _BUILT[key]


def _register_builtins() -> None:
    from relhead.assets import anny_head, flame_head

    register(Backend("anny", anny_head.AnnyCfg, anny_head.AnnyIdentity, anny_head.AnnyHead.from_config))
    register(Backend("flame", flame_head.FlameCfg, flame_head.FlameIdentity, flame_head.FlameHead.from_config))


_register_builtins()
