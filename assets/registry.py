"""Head-model backends by name: each one's config section, identity type and builder; built models
are cached per process by (name, build settings).

Built in: `anny`, and `flame` for licence holders (it reads their own model files). Another backend
(e.g. a test's fake) registers itself with :func:`register` before a config naming it is validated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


def register(backend: Backend) -> None:
    _BACKENDS[backend.name] = backend


def names() -> list[str]:
    return sorted(_BACKENDS)


def backend(name: str) -> Backend:
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
