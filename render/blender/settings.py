"""The config's `render` and `image` sections (a preset plus explicit keys) applied to a bpy scene."""

from __future__ import annotations

from contextlib import nullcontext

import bpy

from relhead.quiet import NO_GPU_DRIVER, without_lines

_ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}


def set_seed(scene, seed: int) -> None:
    scene.cycles.seed = seed % (2**31 - 1)


def new_group(scene) -> None:
    """A kept session (render.session: group) starts afresh with each group: switching persistent data
    off frees it (the next render builds a new one), switching it on keeps that one."""
    r = scene.render
    if r.use_persistent_data:
        r.use_persistent_data = False
        r.use_persistent_data = True


def set_threads(scene, threads: int) -> None:
    """Cycles threads (0: all cores); pixels do not depend on it."""
    if threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", threads
    else:
        scene.render.threads_mode = "AUTO"


def apply(scene, render_cfg, image_cfg) -> None:
    r = scene.render
    r.engine = _ENGINES[render_cfg.engine]
    r.resolution_x, r.resolution_y, r.resolution_percentage = image_cfg.width, image_cfg.height, 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.film_transparent = True  # alpha = subject; the background is composited from the environment pass
    # session "view" (the default): no persistent data, every view in a fresh Cycles session. "group":
    # persistent data, freed when a group starts (new_group), so a group's later views reuse the
    # session's scene, images and world map. In a kept session a scene used to come out one of two
    # ways run to run where two objects' surfaces cut through each other (the garment and the neck:
    # which coincident hit wins follows Embree's top-level tree); the garment is now part of the
    # head's geometry (Head.join) and kept sessions give the fresh sessions' bytes in the bench.
    r.use_persistent_data = render_cfg.session == "group"
    # Motion blur (per view, when a view has it): the camera's keys sit half a frame either side of
    # the rendered frame (ProcessScene._shake_keys), so the shutter spans one frame, centred on it.
    r.motion_blur_shutter, r.motion_blur_position = 1.0, "CENTER"
    set_threads(scene, render_cfg.threads)
    scene.view_settings.view_transform = render_cfg.view_transform
    scene.view_settings.look = "None"
    if render_cfg.engine == "cycles":
        c = scene.cycles
        c.device = "GPU" if render_cfg.device != "cpu" and _enable_gpu(required=render_cfg.device == "gpu") else "CPU"
        c.samples = render_cfg.samples
        c.filter_width = render_cfg.filter_width
        c.use_adaptive_sampling = render_cfg.adaptive_threshold > 0
        if c.use_adaptive_sampling:
            c.adaptive_threshold, c.adaptive_min_samples = render_cfg.adaptive_threshold, render_cfg.adaptive_min_samples
        c.use_denoising = render_cfg.denoise
        # Choosing the denoiser makes Cycles list its devices, which on a machine without GPU drivers
        # prints CUDA's and HIP's failed probes: noise when the render runs on the CPU anyway.
        with without_lines(NO_GPU_DRIVER) if render_cfg.device == "cpu" else nullcontext():
            c.denoiser, c.denoising_quality = "OPENIMAGEDENOISE", render_cfg.denoiser_quality.upper()
        c.denoising_prefilter = render_cfg.denoiser_prefilter.upper()
        c.max_bounces, c.diffuse_bounces, c.glossy_bounces = (render_cfg.max_bounces, render_cfg.diffuse_bounces,
                                                              render_cfg.glossy_bounces)
        c.transmission_bounces, c.transparent_max_bounces = render_cfg.max_bounces, 8
        w = scene.world.cycles
        if render_cfg.env_map_resolution:  # the world's importance map, rebuilt whenever the world changes
            w.sampling_method, w.sample_map_resolution = "MANUAL", render_cfg.env_map_resolution
        else:
            w.sampling_method = "AUTOMATIC"
        c.use_light_tree = False  # the world and at most a few extra lights: no tree needed
    elif render_cfg.engine == "eevee":
        scene.eevee.taa_render_samples = render_cfg.samples


def _enable_gpu(required: bool) -> bool:
    """Use the first GPU backend Cycles finds (OptiX, then CUDA, HIP, Metal, oneAPI); False, or a
    RuntimeError when `required`, if there is none."""
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
            return True
    if required:
        raise RuntimeError("render.device=gpu: Cycles found no GPU (tried OptiX, CUDA, HIP, Metal, oneAPI)")
    return False
