"""Render settings presets: the config's `render` and `image` sections applied to a bpy scene."""

from __future__ import annotations

import bpy

_ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}


def apply(scene, render_cfg, image_cfg, seed: int = 0) -> None:
    r = scene.render
    r.engine = _ENGINES[render_cfg.engine]
    r.resolution_x, r.resolution_y, r.resolution_percentage = image_cfg.width, image_cfg.height, 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.film_transparent = True  # alpha = subject; the background is composited from the environment pass
    if render_cfg.threads:
        r.threads_mode, r.threads = "FIXED", render_cfg.threads
    else:
        r.threads_mode = "AUTO"
    scene.view_settings.view_transform = render_cfg.view_transform
    scene.view_settings.look = "None"
    if render_cfg.engine == "cycles":
        c = scene.cycles
        c.device = "GPU" if render_cfg.device == "gpu" else "CPU"
        if render_cfg.device == "gpu":
            _enable_gpu()
        c.samples = render_cfg.samples
        c.use_adaptive_sampling = render_cfg.adaptive_threshold > 0
        if c.use_adaptive_sampling:
            c.adaptive_threshold = render_cfg.adaptive_threshold
        c.use_denoising = render_cfg.denoise
        c.seed = seed % (2**31 - 1)
        c.max_bounces, c.diffuse_bounces, c.glossy_bounces, c.transparent_max_bounces = 6, 3, 3, 8
        c.use_light_tree = False  # no mesh lights: the world is the only light
    elif render_cfg.engine == "eevee":
        scene.eevee.taa_render_samples = render_cfg.samples


def _enable_gpu() -> None:
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for backend in ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI"):
        try:
            prefs.compute_device_type = backend
        except TypeError:
            continue
        prefs.get_devices()
        devices = [d for d in prefs.devices if d.type == backend]
        if devices:
            for d in prefs.devices:
                d.use = d.type == backend
            return
    raise RuntimeError("render.device=gpu: Cycles found no GPU (tried OptiX, CUDA, HIP, Metal, oneAPI)")
