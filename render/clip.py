"""Temporal clips (config `clip:`): the frames of one group as a recording, sampled without bpy.

A clip is one subject in front of one fixed camera (the same intrinsics and extrinsics every frame:
the neck does the whole head rotation, so the camera never orbits), turning the head along smooth
yaw/pitch/roll curves, moving the eyes, blinking and changing expression:

- pose: each Euler angle is the middle of its `pose:` range plus half the range times a sum of
  `components` sinusoids (frequencies uniform in `frequency_hz`, random phases, weights summing to
  1, so the curve stays inside the range); then the deviations from the middle are scaled down, where
  needed, so that no step between frames exceeds `max_speed_deg_s / fps` degrees. The sum of the
  three Euler steps bounds the geodesic step (the rotation metric is bi-invariant), so the bound
  holds for the head's rotation itself;
- gaze: the same kind of curve in the gaze ranges (eyes move fast; no speed bound);
- expressions: the backend's own sampler draws a new expression every `expression_hold_s`, and the
  face blends into it over `expression_blend_s` (smoothstep, weight by weight);
- blinks: a Poisson process at `blinks_per_min`; a blink takes `blink_s`, a third closing and two
  thirds opening, and sets the backend's `blink_actions` (Anny: eyeBlinkLeft, eyeBlinkRight; a
  backend without them does not blink) to at least its closure.
"""

from __future__ import annotations

import numpy as np

from relhead.render.spec import CameraSpec, ClipSpec, Euler, ViewSpec


def frame_times(clip) -> np.ndarray:
    """Times (s) of a clip's frames: frame i at i / fps."""
    return np.arange(clip.frames) / clip.fps


def smooth_curves(rng: np.random.Generator, n: int, times: np.ndarray, frequency_hz, components: int) -> np.ndarray:
    """(n, T) curves in [-1, 1] at `times`, each a sum of `components` sinusoids with weights summing to 1."""
    f = rng.uniform(*frequency_hz, size=(n, components, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, components, 1))
    w = rng.dirichlet(np.ones(components), size=n)[:, :, None]
    return (w * np.sin(2 * np.pi * f * times[None, None] + phase)).sum(1)


def pose_curves(rng: np.random.Generator, pose, clip) -> np.ndarray:
    """(frames, 3) yaw, pitch, roll in degrees: inside `pose`'s ranges, steps bounded (module docstring)."""
    ranges = np.array([pose.yaw_deg, pose.pitch_deg, pose.roll_deg], float)
    mid, half = ranges.mean(1), (ranges[:, 1] - ranges[:, 0]) / 2
    dev = half[:, None] * smooth_curves(rng, 3, frame_times(clip), clip.frequency_hz, clip.components)
    step = np.abs(np.diff(dev, axis=1)).sum(0).max()  # the largest sum of Euler steps between frames
    bound = clip.max_speed_deg_s / clip.fps
    scale = min(1.0, bound / step) if step > 0 else 1.0
    return (mid[:, None] + scale * dev).T


def gaze_curves(rng: np.random.Generator, head, clip) -> np.ndarray:
    """(frames, 2) gaze yaw, pitch in degrees inside `head.gaze_*_deg`."""
    ranges = np.array([head.gaze_yaw_deg, head.gaze_pitch_deg], float)
    mid, half = ranges.mean(1), (ranges[:, 1] - ranges[:, 0]) / 2
    return (mid[:, None] + half[:, None] * smooth_curves(rng, 2, frame_times(clip), clip.frequency_hz,
                                                          clip.components)).T


def _blend(a: dict, b: dict, x: float) -> dict:
    """Weights (1 - x) a + x b, key by key (a missing key is 0); zero weights dropped."""
    out = {k: (1 - x) * a.get(k, 0.0) + x * b.get(k, 0.0) for k in sorted(set(a) | set(b))}
    return {k: float(v) for k, v in out.items() if v != 0.0}


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def expression_track(rng: np.random.Generator, draw, clip) -> list[dict]:
    """Per frame the expression: `draw()` (the backend's sampler) at 0 and after every hold, each
    blended in over `expression_blend_s`."""
    times = frame_times(clip)
    starts, targets = [0.0], [draw()]
    while starts[-1] <= times[-1]:
        starts.append(starts[-1] + float(rng.uniform(*clip.expression_hold_s)))
        targets.append(draw())
    blend = clip.expression_blend_s

    def progress(dt: float) -> float:
        return 1.0 if blend == 0 else _smoothstep(dt / blend)

    # the face when change k starts: change k - 1 as far as it got (change 0 is the first face, held)
    origin = [targets[0], targets[0]]
    for k in range(2, len(starts)):
        origin.append(_blend(origin[k - 1], targets[k - 1], progress(starts[k] - starts[k - 1])))
    out = []
    for t in times:
        k = int(np.searchsorted(starts, t, side="right")) - 1
        out.append(dict(targets[0]) if k == 0 else _blend(origin[k], targets[k], progress(t - starts[k])))
    return out


def blink_track(rng: np.random.Generator, clip) -> np.ndarray:
    """(frames,) eyelid closure in [0, 1]: blinks as a Poisson process (module docstring)."""
    times = frame_times(clip)
    closure = np.zeros(len(times))
    if clip.blinks_per_min == 0:
        return closure
    gap = 60.0 / clip.blinks_per_min
    t = -float(rng.uniform(*clip.blink_s)) + float(rng.exponential(gap))  # a blink may be under way at 0
    while t <= times[-1]:
        d = float(rng.uniform(*clip.blink_s))
        u = (times - t) / d
        close = np.sin(np.pi / 2 * np.clip(u * 3, 0, 1)) ** 2
        opening = np.cos(np.pi / 2 * np.clip((u - 1 / 3) * 1.5, 0, 1)) ** 2
        closure = np.maximum(closure, np.where((u >= 0) & (u <= 1), np.where(u < 1 / 3, close, opening), 0.0))
        t += d + float(rng.exponential(gap))
    return closure


def sample_clip(rng: np.random.Generator, cfg, camera: CameraSpec, head_model) -> tuple[ClipSpec, list[ViewSpec]]:
    """The clip of one group: its frames as views seen by `camera` (config `clip:`, `pose:`, `head:`)."""
    clip = cfg.clip
    ypr = pose_curves(rng, cfg.pose, clip)
    gaze = gaze_curves(rng, cfg.head, clip)
    faces = expression_track(rng, lambda: head_model.sample_expression(rng, cfg.head), clip)
    blink = blink_track(rng, clip)
    names = tuple(getattr(head_model, "blink_actions", ()))
    views = []
    for i in range(clip.frames):
        face = dict(faces[i])
        if blink[i] > 0:
            face.update({n: float(max(face.get(n, 0.0), blink[i])) for n in names})
        views.append(ViewSpec(euler_deg=Euler(yaw=float(ypr[i, 0]), pitch=float(ypr[i, 1]), roll=float(ypr[i, 2])),
                              neck_share=1.0, gaze_deg=(float(gaze[i, 0]), float(gaze[i, 1])), camera=camera,
                              expression=dict(sorted(face.items()))))
    return ClipSpec(fps=clip.fps), views
