"""The values of the model commands' options that detection and prediction share: comma-separated numbers
(`--anchor-pose yaw,pitch,roll`, `--anchor-box x0,y0,x1,y1`) and face boxes, each a ConfigError naming the
option when it is not one. No torch: `train/detect.py` and `train/predict.py` both parse with it."""

from __future__ import annotations

import numpy as np

from relhead.configbase import ConfigError


def parse_numbers(text: str | None, n: int, name: str, example: str, limit: float | None = None) -> list[float] | None:
    """`n` comma-separated finite numbers (each within [-limit, limit] when given), or None for None; a
    ConfigError naming the option otherwise."""
    if text is None:
        return None
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise ConfigError(f"{name} {text!r}: expected {n} comma-separated numbers, e.g. {example}")
    if not all(np.isfinite(vals)):
        raise ConfigError(f"{name} {text!r}: the numbers must be finite (no nan or inf)")
    if limit is not None and max(abs(v) for v in vals) > limit:
        raise ConfigError(f"{name} {text!r}: each must lie within [-{limit:g}, {limit:g}], e.g. {example}")
    return vals


def check_box(box, W: int, H: int, name: str = "box") -> tuple[float, float, float, float]:
    """A face box as 4 floats inside a W x H image with x0 < x1, y0 < y1; ConfigError when not."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {box!r}: expected four numbers x0,y0,x1,y1") from None
    if not (x0 < x1 and y0 < y1 and x0 >= 0 and y0 >= 0 and x1 <= W and y1 <= H):
        raise ConfigError(f"{name} {x0:g},{y0:g},{x1:g},{y1:g}: needs x0 < x1, y0 < y1 within the {W}x{H} image")
    return x0, y0, x1, y1
