"""Sample the scene spec of a group, deterministically and without bpy.

The spec depends only on (config, corpus seed, group id, the corpus' HDRI refs): re-sampling it
anywhere gives the same group.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from relhead.assets.base import BROWS, SCALP, TORSO
from relhead.assets.refs import AssetRef
from relhead.config import CHROMA_NOISE_BEFORE
from relhead.configbase import ConfigError
from relhead.exact import mm, power
from relhead.render.clip import sample_clip
from relhead.render.spec import (BackdropSpec, BackgroundSpec, CameraSpec, EffectsSpec, EyeDetailSpec, EyeSpec, Euler,
                                 FacialHairSpec, GarmentSpec, GlassesSpec, GroupSpec, HatSpec, HairSpec, HeadSpec,
                                 LightingSpec, LightSpec, MakeupSpec, MaterialsSpec, MouthSpec, PhotoSpec,
                                 SkinDetailSpec, SkinSpec, StrandsSpec, TIED, ViewSpec, light_angles, light_direction)
from relhead.render.views import neck_rotation


# The part streams: a part added after the main stream draws from its own generator,
# default_rng([group seed, number]), so switching it on leaves every other parameter as it was. The numbers
# are part of every corpus' bytes: never change one; a new part takes the next free number (20).
STREAMS = {
    "effects": 1,  # camera effects
    "lights": 2,  # extra lights
    "photo": 3,  # background photo
    "skin_regions": 4,  # lips, ears and eyelids tints
    "hair": 5,  # brows, short hair, lashes, colour
    "garment": 6,
    "strands": 7,  # scalp strands
    "glasses": 8,
    "facial_hair": 9,
    "hat": 10,
    "albedo": 11,  # skin albedo texture
    "mouth": 12,
    "motion_blur": 13,
    "clip": 14,  # a temporal clip's motion (render/clip.py)
    "eye_detail": 15,  # iris, sclera and lid detail
    "skin_detail": 16,  # skin colour over face areas, freckles, make-up
    "photo_model": 17,  # the camera model after the render
    "backdrop": 18,  # procedural backdrop
    "key_light": 19,  # a key light above the front of the body
}
assert len(set(STREAMS.values())) == len(STREAMS), "two parts share a stream"


def part_stream(seed: int, part: str) -> np.random.Generator:
    """The generator of `part` (a key of STREAMS) in the group of `seed`."""
    return np.random.default_rng([seed, STREAMS[part]])


def group_seed(corpus_seed: int, group: int) -> int:
    """The seed of group g depends on (corpus seed, g) only."""
    ss = np.random.SeedSequence(entropy=int(corpus_seed), spawn_key=(int(group),))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _srgb_to_linear(c) -> tuple[float, ...]:
    c = np.asarray(c, float)
    lin = np.where(c <= 0.04045, c / 12.92, power((c + 0.055) / 1.055, 2.4))
    return tuple(float(x) for x in lin.round(5))


# sRGB skin tones from very light to very dark (about Fitzpatrick I to VI), interpolated linearly by
# the sampled tone (0 .. 1, uniform over config skin.tone), then each channel scaled by 0.93-1.07.
_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.55], [0.76, 0.55, 0.41],
                        [0.60, 0.41, 0.29], [0.43, 0.28, 0.19], [0.26, 0.16, 0.11]])
_IRIS_COLOURS = np.array([[0.25, 0.13, 0.05], [0.12, 0.07, 0.03], [0.33, 0.45, 0.60],
                          [0.35, 0.42, 0.25], [0.45, 0.33, 0.17], [0.45, 0.50, 0.55]])


def sample_materials(rng: np.random.Generator, cfg) -> MaterialsSpec:
    """Skin (tone drawn uniformly over config `skin.tone` of the scale _SKIN_TONES spans), eyes, mouth."""
    tone = float(rng.uniform(*cfg.tone))
    x = tone * (len(_SKIN_TONES) - 1)
    i = min(int(x), len(_SKIN_TONES) - 2)
    rgb = _SKIN_TONES[i] * (1 - (x - i)) + _SKIN_TONES[i + 1] * (x - i)
    rgb = rgb * rng.uniform(0.93, 1.07, size=3)
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))] * rng.uniform(0.8, 1.2)
    skin = SkinSpec(tone=tone, base_color=_srgb_to_linear(np.clip(rgb, 0, 1)),
                    roughness=float(rng.uniform(0.35, 0.6)), subsurface=float(rng.uniform(0.1, 0.3)),
                    blotch_strength=float(rng.uniform(0.05, 0.2)), noise_seed=float(rng.uniform(0, 1000)))
    eye = EyeSpec(iris_color=_srgb_to_linear(np.clip(iris, 0, 1)), iris_deg=float(rng.uniform(28.0, 34.0)),
                  pupil_deg=float(rng.uniform(9.0, 16.0)))
    return MaterialsSpec(skin=skin, eye=eye, mouth=MouthSpec(base_color=_srgb_to_linear([0.35, 0.08, 0.08])))


# sRGB teeth from bright white to a yellowed ivory (shade 0 .. 1), and tongues from pale pink to red.
_TEETH = np.array([[0.93, 0.91, 0.86], [0.78, 0.70, 0.52]])
_TONGUE = np.array([[0.80, 0.50, 0.50], [0.62, 0.22, 0.24]])


def sample_mouth(rng: np.random.Generator, mouth: MouthSpec, age: float | None) -> MouthSpec:
    """Teeth shade (yellowing more likely with age) and tongue colour."""
    shade = float(np.clip(rng.beta(2.0, 4.0) + 0.005 * max((age or 30.0) - 30.0, 0.0), 0.0, 1.0))
    red = float(rng.uniform(0.0, 1.0))
    teeth = _TEETH[0] * (1 - shade) + _TEETH[1] * shade
    tongue = _TONGUE[0] * (1 - red) + _TONGUE[1] * red
    return mouth.model_copy(update={"teeth_color": _srgb_to_linear(teeth * rng.uniform(0.95, 1.02)),
                                    "tongue_color": _srgb_to_linear(tongue)})


def sample_lighting(rng: np.random.Generator, cfg, hdris: Sequence[AssetRef]) -> LightingSpec:
    hdri = hdris[int(rng.integers(len(hdris)))]
    kind = cfg.background
    if kind == "mixed":
        kind = "color" if rng.random() < cfg.color_background_fraction else "hdri"
    color = _srgb_to_linear(rng.uniform(0.05, 0.95, size=3)) if kind == "color" else None
    return LightingSpec(hdri=hdri, rotation_deg=float(rng.uniform(0.0, 360.0)),
                        strength=float(rng.uniform(*cfg.strength)),
                        background=BackgroundSpec(type=kind, color=color))


def sample_skin_regions(rng: np.random.Generator, cfg, skin: SkinSpec) -> SkinSpec:
    """Lip colour and the strength of the region tints (config `skin:`; unchanged when off), and the
    skin's specular level."""
    tint = float(rng.uniform(*cfg.region_tint))
    redness = float(rng.uniform(*cfg.lip_redness))
    skin = skin.model_copy(update={"specular": float(rng.uniform(*cfg.specular))})  # drawn last in this stream
    if tint == 0.0:
        return skin
    # Lips: the skin's colour pulled toward a deep red (linear RGB), more for `redness`.
    base = np.asarray(skin.base_color)
    lips = base * (1.0 - 0.45 * redness) * power(np.array([1.0, 0.55, 0.6]), 0.5 + redness)
    return skin.model_copy(update={"region_tint": tint, "lip_color": tuple(float(x) for x in lips.round(5))})


# sRGB hair colours by melanin (blond .. black), and the auburn that redness pulls toward.
_HAIR_BY_MELANIN = np.array([[0.80, 0.70, 0.52], [0.55, 0.42, 0.27], [0.33, 0.22, 0.13], [0.16, 0.11, 0.07],
                             [0.05, 0.04, 0.035]])
_AUBURN = np.array([0.50, 0.20, 0.09])


def hair_rgb(melanin: float, redness: float) -> np.ndarray:
    """sRGB of hair of this melanin and redness (a palette interpolation, not a fibre model)."""
    x = melanin * (len(_HAIR_BY_MELANIN) - 1)
    i = min(int(x), len(_HAIR_BY_MELANIN) - 2)
    rgb = _HAIR_BY_MELANIN[i] * (1 - (x - i)) + _HAIR_BY_MELANIN[i + 1] * (x - i)
    return rgb * (1 - redness) + _AUBURN * (1 - 0.7 * melanin) * redness


# Per style: length (cm), curl radius (mm), curl period (cm), volume (mm), frizz (mm).
_STYLES = {"short": ((3.0, 7.0), (0.0, 0.0), (1.0, 1.0), (2.0, 6.0), (0.0, 1.0)),
           "medium": ((9.0, 18.0), (0.0, 0.0), (1.0, 1.0), (3.0, 10.0), (0.0, 1.5)),
           "long": ((22.0, 40.0), (0.0, 0.0), (1.0, 1.0), (3.0, 10.0), (0.0, 1.5)),
           "curly": ((6.0, 20.0), (2.5, 6.0), (0.8, 2.0), (6.0, 15.0), (1.0, 3.0)),
           # Tied back: pressed to the scalp up to the tie, the length is the whole strand's.
           "ponytail": ((30.0, 50.0), (0.0, 0.0), (1.0, 1.0), (1.0, 3.0), (0.0, 1.0)),
           "bun": ((30.0, 50.0), (0.0, 0.0), (1.0, 1.0), (1.0, 3.0), (0.0, 1.0))}


def sample_strands(rng: np.random.Generator, cfg) -> StrandsSpec | None:
    """Strand hair for `hair.strands` of the subjects (config `hair:`), else None."""
    if not rng.random() < cfg.strands:
        return None
    style = cfg.styles[int(rng.integers(len(cfg.styles)))]
    length, curl, period, volume, frizz = (float(rng.uniform(*r)) for r in _STYLES[style])
    lo, hi = (int(x) for x in cfg.strand_count)
    spec = StrandsSpec(style=style, seed=int(rng.integers(0, 2**31 - 1)), count=int(rng.integers(lo, hi + 1)),
                       length_cm=length, hairline_cm=float(rng.uniform(*cfg.hairline_cm)),
                       fringe=float(rng.uniform(0.0, 1.0)), parting_cm=float(rng.uniform(-3.0, 3.0)),
                       volume_mm=volume, clump=float(rng.uniform(0.2, 0.7)), frizz_mm=frizz, curl_radius_mm=curl,
                       curl_period_cm=period, roughness=float(rng.uniform(0.25, 0.45)))
    if style in TIED:
        spec = spec.model_copy(update={"tie_height": float(rng.uniform(0.0, 1.0))})
    return spec


# Facial hair by style: strands, length (mm), how far below the jaw line it reaches (mm).
_FACIAL = {"stubble": (20000, (0.8, 2.5), (10.0, 25.0)), "moustache": (2500, (8.0, 15.0), (0.0, 0.0)),
           "goatee": (3500, (10.0, 30.0), (10.0, 25.0)), "beard": (9000, (10.0, 50.0), (15.0, 35.0))}


def sample_facial_hair(rng: np.random.Generator, cfg, identity) -> FacialHairSpec | None:
    """Facial hair for `hair.facial_hair` of the subjects who grow it (Identity.grows_facial_hair)."""
    if not (rng.random() < cfg.facial_hair and identity.grows_facial_hair()):
        return None
    style = cfg.facial_styles[int(rng.integers(len(cfg.facial_styles)))]
    count, lengths, neck = _FACIAL[style]
    curly = style in ("goatee", "beard") and rng.random() < 0.3
    length = float(rng.uniform(*lengths))
    return FacialHairSpec(style=style, seed=int(rng.integers(0, 2**31 - 1)), count=count, length_mm=length,
                          neck_mm=float(rng.uniform(*neck)), curl_radius_mm=float(rng.uniform(1.0, 2.5)) if curly else 0.0,
                          frizz_mm=float(rng.uniform(0.2, 1.0)) * min(1.0, length / 10.0))


GREY_RGB = np.array([0.78, 0.77, 0.74])  # white hair, sRGB


def grey_share(rng: np.random.Generator, greying: float, age: float | None) -> float:
    """The share of white hairs: none before 30, rising with age to most of them by 70 (per person
    0.4-1.4x that), scaled by `greying`; none where the backend does not model age."""
    spread = float(rng.uniform(0.4, 1.4))
    if age is None or greying == 0.0:
        return 0.0
    return float(np.clip(np.clip((age - 30.0) / 40.0, 0.0, 1.0) * spread * greying, 0.0, 0.95))


def sample_hair(rng: np.random.Generator, cfg, skin: SkinSpec, strands: StrandsSpec | None = None,
                facial: FacialHairSpec | None = None, age: float | None = None) -> HairSpec | None:
    """Hair colour, brows and short scalp hair (config `hair:`), with `strands` when the subject has
    strand hair (the scalp under it is painted in the hair colour) and `facial` hair, greyed by
    `age`; None when there is no hair."""
    brows, thickness = float(rng.uniform(*cfg.brows)), float(rng.uniform(*cfg.brow_thickness))
    short = rng.random() < cfg.short_hair
    scalp, hairline = float(rng.uniform(*cfg.short_hair_density)), float(rng.uniform(*cfg.hairline_cm))
    lo, hi = cfg.melanin
    melanin = float(np.clip(rng.uniform(lo, hi) + 0.5 * skin.tone * (hi - lo), lo, hi))  # darker skin, darker hair
    redness = float(rng.uniform(*cfg.redness)) * (1.0 - melanin)
    lashes, lash_length, face_seed = (float(rng.uniform(*cfg.lashes)), float(rng.uniform(*cfg.lash_length_mm)),
                                      int(rng.integers(0, 2**31 - 1)))
    grey = grey_share(rng, cfg.greying, age)
    brow_strands = bool(rng.random() < cfg.brow_strands) and brows > 0.0
    paint = hair_rgb(melanin, redness) * (1.0 - 0.8 * grey) + GREY_RGB * 0.8 * grey
    if brows == 0.0 and not short and strands is None and facial is None and lashes == 0.0:
        return None
    if strands is not None:  # the scalp under the strands, painted to the strands' hairline
        short, scalp, hairline = True, 1.0, strands.hairline_cm
    return HairSpec(melanin=melanin, redness=redness, color=_srgb_to_linear(np.clip(paint, 0, 1)), grey=grey,
                    brow_density=brows, brow_thickness=thickness, scalp_density=scalp if short else 0.0,
                    hairline_cm=hairline if short else 0.0, strands=strands, facial=facial,
                    lash_density=lashes, lash_length_mm=lash_length if lashes > 0 else 0.0,
                    face_seed=face_seed if lashes > 0 or brow_strands else 0, brow_strands=brow_strands)


def sample_lights(rng: np.random.Generator, cfg) -> list[LightSpec]:
    """The group's extra lights (config `lighting.light_*`)."""
    lo, hi = (int(x) for x in cfg.light_count)
    out = []
    for _ in range(int(rng.integers(lo, hi + 1))):
        out.append(LightSpec(
            kind="area" if rng.random() < cfg.area_fraction else "point",
            azimuth_deg=float(rng.uniform(-180.0, 180.0)), elevation_deg=float(rng.uniform(*cfg.light_elevation_deg)),
            distance_m=float(rng.uniform(*cfg.light_distance_m)), strength=float(rng.uniform(*cfg.light_strength)),
            kelvin=float(rng.uniform(*cfg.light_kelvin)), size_m=float(rng.uniform(*cfg.light_size_m))))
    return out


def sample_key_light(rng: np.random.Generator, cfg, lighting: LightingSpec, first: ViewSpec) -> LightingSpec:
    """A key light for `lighting.key_light_fraction` of the groups (else `lighting` as it was): an area
    light above the front of the body, its direction drawn in the body's frame (the head's frame at rest:
    upright, facing forward) and written, as every LightSpec is, in the head frame of the group's first
    view (`first`, whose neck turn it undoes). The HDRI is dimmed so a surface facing the key gets the
    irradiance the HDRI alone gave it: the key takes its share, the world keeps the rest."""
    if not rng.random() < cfg.key_light_fraction:
        return lighting
    share = float(rng.uniform(*cfg.key_light_share))
    body = np.array(light_direction(rng.uniform(*cfg.key_light_azimuth_deg), rng.uniform(*cfg.key_light_elevation_deg)))
    u = mm(neck_rotation(first).T, body)  # R_world_head = R_world_body @ N: a body direction in the head frame
    azimuth, elevation = light_angles(u)
    key = LightSpec(kind="area", azimuth_deg=azimuth, elevation_deg=elevation,
                    distance_m=float(rng.uniform(*cfg.key_light_distance_m)), strength=share / (1.0 - share),
                    kelvin=float(rng.uniform(*cfg.light_kelvin)), size_m=float(rng.uniform(*cfg.key_light_size_m)))
    return lighting.model_copy(update={"strength": lighting.strength * (1.0 - share),
                                       "lights": [*lighting.lights, key]})


def sample_photo(rng: np.random.Generator, cfg, backgrounds: Sequence[AssetRef]) -> BackgroundSpec | None:
    """A photo background for `lighting.image_background_fraction` of the groups, else None."""
    if not rng.random() < cfg.image_background_fraction:
        return None
    if not backgrounds:
        raise ConfigError("lighting.image_background_fraction > 0 but no background images were given")
    return BackgroundSpec(type="image", image=backgrounds[int(rng.integers(len(backgrounds)))])


# Fabric colours (sRGB): neutrals, denims, and muted to saturated hues; a garment takes one, varied.
_FABRICS = np.array([[0.08, 0.08, 0.09], [0.92, 0.92, 0.90], [0.45, 0.46, 0.48], [0.15, 0.20, 0.35],
                     [0.30, 0.38, 0.52], [0.55, 0.12, 0.12], [0.18, 0.35, 0.22], [0.80, 0.70, 0.50],
                     [0.95, 0.75, 0.20], [0.35, 0.20, 0.45], [0.85, 0.45, 0.55], [0.25, 0.55, 0.65]])


def _fabric(rng: np.random.Generator) -> tuple[float, ...]:
    """A fabric colour (linear RGB): one of _FABRICS, varied."""
    return _srgb_to_linear(np.clip(_FABRICS[rng.integers(len(_FABRICS))] * rng.uniform(0.8, 1.15, size=3), 0, 1))


def sample_garment(rng: np.random.Generator, cfg) -> GarmentSpec | None:
    """A garment for `clothing.fraction` of the subjects, else None (config `clothing:`)."""
    if not rng.random() < cfg.fraction:
        return None
    style = cfg.styles[int(rng.integers(len(cfg.styles)))]
    color, second = _fabric(rng), _fabric(rng)
    pattern = cfg.patterns[int(rng.integers(len(cfg.patterns)))] if rng.random() < cfg.pattern_fraction else "solid"
    return GarmentSpec(style=style, thickness_mm=float(rng.uniform(*cfg.thickness_mm)), color=color, pattern=pattern,
                       pattern_color=second, pattern_scale_cm=_log_uniform(rng, 0.6, 5.0),
                       roughness=float(rng.uniform(*cfg.roughness)), sheen=float(rng.uniform(0.0, 0.6)))


# Frame colours (sRGB): metal (silver, gold, gunmetal, black) and acetate (black, tortoise, brown,
# navy, burgundy, grey, honey, green).
_METALS = np.array([[0.80, 0.80, 0.82], [0.85, 0.68, 0.38], [0.30, 0.30, 0.32], [0.05, 0.05, 0.05]])
_ACETATES = np.array([[0.03, 0.03, 0.03], [0.30, 0.16, 0.07], [0.18, 0.10, 0.06], [0.08, 0.10, 0.25],
                      [0.35, 0.05, 0.08], [0.40, 0.40, 0.42], [0.70, 0.50, 0.25], [0.10, 0.25, 0.15]])
# Sunglass tints (hue of the transmittance, sRGB): grey, brown, green, blue.
_TINTS = np.array([[0.5, 0.5, 0.5], [0.6, 0.45, 0.3], [0.4, 0.5, 0.35], [0.35, 0.45, 0.6]])
# Lens height over width by style.
_LENS_ASPECT = {"round": (0.85, 1.0), "rectangular": (0.5, 0.7), "aviator": (0.8, 0.95)}


def sample_glasses(rng: np.random.Generator, cfg) -> GlassesSpec | None:
    """Glasses for `accessories.glasses` of the subjects, else None (config `accessories:`). The
    frame is drawn before the lenses, so `accessories.sunglasses` changes only the lenses."""
    if not rng.random() < cfg.glasses:
        return None
    style = cfg.glasses_styles[int(rng.integers(len(cfg.glasses_styles)))]
    width = float(rng.uniform(*cfg.lens_width_mm))
    height = width * float(rng.uniform(*_LENS_ASPECT[style]))
    bridge = float(rng.uniform(*cfg.bridge_mm))
    metal = bool(rng.random() < cfg.metal_frames)
    rim = float(rng.uniform(0.5, 0.9) if metal else rng.uniform(1.2, 2.4))
    colours = _METALS if metal else _ACETATES
    frame = _srgb_to_linear(np.clip(colours[rng.integers(len(colours))] * rng.uniform(0.85, 1.15), 0, 1))
    roughness = float(rng.uniform(0.15, 0.45))
    tinted = bool(rng.random() < cfg.sunglasses)
    # Sunglasses pass 8-30% of the light (filter categories 2-3); clear lenses absorb almost nothing.
    tint = np.asarray(_srgb_to_linear(_TINTS[rng.integers(len(_TINTS))]))
    tint = tint / tint.mean() * rng.uniform(0.08, 0.3)
    lens = tuple(float(x) for x in np.clip(tint, 0, 1).round(5)) if tinted else (0.98, 0.98, 0.98)
    return GlassesSpec(style=style, lens_width_mm=width, lens_height_mm=height, bridge_mm=bridge, rim_mm=rim,
                       metal=metal, frame_color=frame, frame_roughness=roughness, tinted=tinted, lens_color=lens)


def sample_hat(rng: np.random.Generator, cfg) -> HatSpec | None:
    """A hat for `accessories.hats` of the subjects, else None (config `accessories:`): beanies knit
    (thick, often striped or heathered), caps in a thin cotton with a brim."""
    if not rng.random() < cfg.hats:
        return None
    style = cfg.hat_styles[int(rng.integers(len(cfg.hat_styles)))]
    color, second = _fabric(rng), _fabric(rng)
    beanie = style == "beanie"
    pattern = ("stripes", "heather")[int(rng.integers(2))] if rng.random() < (0.5 if beanie else 0.1) else "solid"
    return HatSpec(style=style, edge_cm=float(rng.uniform(-0.8, 0.8)), brim_cm=0.0 if beanie else float(rng.uniform(6.0, 8.0)),
                   thickness_mm=float(rng.uniform(4.0, 8.0) if beanie else rng.uniform(1.5, 3.0)), color=color,
                   pattern=pattern, pattern_color=second, pattern_scale_cm=float(rng.uniform(1.0, 4.0)),
                   roughness=float(rng.uniform(0.75, 0.95) if beanie else rng.uniform(0.55, 0.8)),
                   sheen=float(rng.uniform(0.2, 0.8) if beanie else rng.uniform(0.0, 0.3)))


def sample_view(rng: np.random.Generator, cfg, expression: dict[str, float]) -> ViewSpec:
    p, c = cfg.pose, cfg.camera
    yaw, pitch, roll = (float(rng.uniform(*r)) for r in (p.yaw_deg, p.pitch_deg, p.roll_deg))
    share = float(np.clip(p.articulation + rng.uniform(-1, 1) * p.articulation_jitter, 0.0, 1.0))
    gaze = (float(rng.uniform(*cfg.head.gaze_yaw_deg)), float(rng.uniform(*cfg.head.gaze_pitch_deg)))
    camera = CameraSpec(
        focal_mm=float(rng.uniform(*c.focal_mm)), sensor_mm=c.sensor_mm, face_fill=float(rng.uniform(*c.face_fill)),
        principal_offset=tuple(float(x) for x in rng.uniform(-1, 1, size=2) * c.principal_jitter),
        lookat_offset=tuple(float(x) for x in rng.uniform(-1, 1, size=2) * c.lookat_jitter))
    return ViewSpec(euler_deg=Euler(yaw=yaw, pitch=pitch, roll=roll), neck_share=share, gaze_deg=gaze,
                    camera=camera, expression=expression)


def sample_effects(rng: np.random.Generator, cfg) -> EffectsSpec | None:
    """Camera effects of one view, or None for a plain view."""
    lens = rng.random() < cfg.fraction
    dof = rng.random() < cfg.defocus_fraction
    if not (lens or dof):
        return None
    out = EffectsSpec(f_number=_log_uniform(rng, *cfg.f_number) if dof else 0.0)
    if lens:
        noise = float(rng.uniform(*cfg.sensor_noise))
        out = out.model_copy(update={
            "sensor_noise": noise, "noise_seed": int(rng.integers(1, 2**20)),
            "vignette": float(rng.uniform(*cfg.vignette)),
            "chromatic_aberration": float(rng.uniform(*cfg.chromatic_aberration)),
            # left unset at the share it always was, so those specs (and corpora) keep their bytes
            "chroma_noise": None if cfg.chroma_noise == CHROMA_NOISE_BEFORE else noise * cfg.chroma_noise})
    return out


def sample_motion_blur(rng: np.random.Generator, cfg, effects: EffectsSpec | None) -> EffectsSpec | None:
    """One view's effects with camera-shake motion blur for `effects.motion_blur_fraction` of views."""
    if not rng.random() < cfg.motion_blur_fraction:
        return effects
    return (effects or EffectsSpec()).model_copy(update={"motion_blur_px": float(rng.uniform(*cfg.motion_blur_px)),
                                                        "motion_blur_deg": float(rng.uniform(0.0, 180.0))})


def sample_albedo(rng: np.random.Generator, cfg, textures: Sequence[AssetRef]) -> AssetRef | None:
    """A skin albedo texture for `skin.albedo_fraction` of the subjects, else None."""
    if not rng.random() < cfg.albedo_fraction:
        return None
    if not textures:
        raise ConfigError("skin.albedo_fraction > 0 but no albedo textures were given")
    return textures[int(rng.integers(len(textures)))]


# Iris colours (sRGB) from light to dark: blue, grey, green, hazel, amber, light brown, brown, dark brown;
# and the colour round the pupil (the collarette) each tends to have.
_IRISES = np.array([[0.36, 0.52, 0.70], [0.47, 0.53, 0.56], [0.36, 0.48, 0.28], [0.47, 0.40, 0.20],
                    [0.58, 0.40, 0.14], [0.42, 0.26, 0.12], [0.27, 0.15, 0.07], [0.13, 0.075, 0.04]])
_COLLARETTES = np.array([[0.55, 0.45, 0.25], [0.50, 0.42, 0.25], [0.58, 0.45, 0.16], [0.45, 0.28, 0.10],
                         [0.50, 0.30, 0.10], [0.30, 0.17, 0.07], [0.18, 0.10, 0.05], [0.09, 0.05, 0.03]])


def sample_eye_detail(rng: np.random.Generator, cfg, eye: EyeSpec, tone: float) -> EyeSpec:
    """Detailed eyes for `eyes.detail` of the subjects (config `eyes:`), else `eye` as it was. The
    iris colour is redrawn from a wider palette, darker the darker the skin (`tone`), with fibres, a
    collarette and a limbal ring; the sclera is a warm grey, not paper-white, with veins."""
    if not rng.random() < cfg.detail:
        return eye
    # light eyes are common only in light skin: the palette index is a beta draw pulled toward dark by tone
    x = float(np.clip(rng.beta(1.0 + 3.0 * tone, 1.6 - 0.8 * tone), 0.0, 1.0)) * (len(_IRISES) - 1)
    i = min(int(x), len(_IRISES) - 2)
    w = x - i
    iris = (_IRISES[i] * (1 - w) + _IRISES[i + 1] * w) * rng.uniform(0.85, 1.15, size=3)
    collarette = (_COLLARETTES[i] * (1 - w) + _COLLARETTES[i + 1] * w) * rng.uniform(0.8, 1.2)
    # sclera: sRGB about 0.78-0.88 with a warm (yellow-pink) cast, never paper-white
    sclera = np.array([0.86, 0.82, 0.78]) * rng.uniform(0.86, 1.0) * np.array([1.0, rng.uniform(0.96, 1.0),
                                                                              rng.uniform(0.90, 0.98)])
    detail = EyeDetailSpec(collarette=_srgb_to_linear(np.clip(collarette, 0, 1)),
                           collarette_size=float(rng.uniform(0.3, 0.6)), fibres=float(rng.uniform(0.4, 0.9)),
                           fibre_scale=float(rng.uniform(25.0, 45.0)), limbal=float(rng.uniform(0.4, 0.85)),
                           limbal_width=float(rng.uniform(0.12, 0.25)),
                           sclera=_srgb_to_linear(np.clip(sclera, 0, 1)), veins=float(rng.uniform(*cfg.veins)),
                           seed=float(rng.uniform(0, 1000)))
    return eye.model_copy(update={"iris_color": _srgb_to_linear(np.clip(iris, 0, 1)), "detail": detail})


# Make-up colours (sRGB): lipsticks (nude, pink, red, berry, brown), blush (peach, pink, rose), eye
# shadows (brown, taupe, grey, plum, bronze).
_LIPSTICKS = np.array([[0.70, 0.45, 0.40], [0.80, 0.40, 0.50], [0.65, 0.08, 0.12], [0.45, 0.10, 0.22],
                       [0.50, 0.28, 0.22]])
_BLUSH = np.array([[0.95, 0.60, 0.50], [0.95, 0.55, 0.60], [0.80, 0.45, 0.45]])
_SHADOW = np.array([[0.40, 0.28, 0.22], [0.50, 0.44, 0.40], [0.35, 0.35, 0.38], [0.40, 0.25, 0.35],
                    [0.60, 0.45, 0.25]])


def _pick(rng: np.random.Generator, palette: np.ndarray) -> tuple[float, ...]:
    return _srgb_to_linear(np.clip(palette[rng.integers(len(palette))] * rng.uniform(0.9, 1.1, size=3), 0, 1))


def sample_skin_detail(rng: np.random.Generator, cfg, skin: SkinSpec, age: float | None) -> SkinSpec:
    """Skin detail for `skin.detail` of the subjects (config `skin:`), else `skin` as it was: colour
    varying over the face, roughness varying, a duller sheen, age cues by the backend's `age` (30 where
    it does not model age), freckles for `skin.freckles` and make-up for `skin.makeup` of them."""
    if not rng.random() < cfg.detail:
        return skin
    old = float(np.clip(((age if age is not None else 30.0) - 25.0) / 50.0, 0.0, 1.0))
    # freckles show on light skin; on dark skin the same melanin spots barely contrast
    freckles = float(rng.uniform(0.3, 1.0)) * (1.0 - 0.7 * skin.tone) if rng.random() < cfg.freckles else 0.0
    makeup = None
    if rng.random() < cfg.makeup:
        makeup = MakeupSpec(lips=_pick(rng, _LIPSTICKS), lips_strength=float(rng.uniform(0.3, 0.9)),
                            blush=_pick(rng, _BLUSH), blush_strength=float(rng.uniform(0.0, 0.5)),
                            shadow=_pick(rng, _SHADOW), shadow_strength=float(rng.uniform(0.0, 0.7)))
    detail = SkinDetailSpec(seed=float(rng.uniform(0, 1000)), variation=float(rng.uniform(0.08, 0.2)),
                            mottling=float(rng.uniform(0.1, 0.4)), flush=float(rng.uniform(0.3, 0.9)),
                            under_eye=float(rng.uniform(0.2, 0.6)), freckles=freckles,
                            freckle_size=float(rng.uniform(1.2, 2.5)),
                            roughness_variation=float(rng.uniform(0.05, 0.15)), sheen=float(rng.uniform(0.45, 0.8)),
                            age=float(np.clip(old * rng.uniform(0.6, 1.2), 0.0, 1.0)), makeup=makeup)
    return skin.model_copy(update={"detail": detail})


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform over [lo, hi] (a quantity spread over orders of magnitude), uniform when lo is 0.

    By the math module (libm), not numpy: numpy's exp and log take SIMD loops on a host with AVX-512
    whose results differ from libm's in the last bit for about a quarter of the draws, so a spec drawn
    there would differ from one drawn on a host without it (tests/test_host.py)."""
    if lo <= 0:
        return float(rng.uniform(lo, hi))
    return math.exp(float(rng.uniform(math.log(lo), math.log(hi))))


def sample_photo_model(rng: np.random.Generator, cfg, n_views: int) -> list[PhotoSpec | None]:
    """The camera model of each view, for `effects.photo_fraction` of the views (config `effects:`), else None.
    Noise levels are log-uniform: most photos are taken at low ISO, a few at high."""
    out = []
    for _ in range(n_views):
        if not rng.random() < cfg.photo_fraction:
            out.append(None)
            continue
        wb = rng.uniform(-1.0, 1.0, size=2) * rng.uniform(*cfg.white_balance)
        lo, hi = (int(q) for q in cfg.jpeg_quality)
        out.append(PhotoSpec(softness_px=float(rng.uniform(*cfg.softness_px)),
                             exposure_ev=float(rng.uniform(*cfg.exposure_ev)),
                             white_balance=(float(1.0 + wb[0]), 1.0, float(1.0 + wb[1])),
                             shot_noise=_log_uniform(rng, *cfg.shot_noise),
                             read_noise=_log_uniform(rng, *cfg.read_noise),
                             contrast=float(rng.uniform(*cfg.picture_contrast)),
                             saturation=float(rng.uniform(*cfg.picture_saturation)),
                             jpeg_quality=int(rng.integers(lo, hi + 1)), seed=int(rng.integers(0, 2**31 - 1))))
    return out


def sample_backdrop(rng: np.random.Generator, cfg) -> BackgroundSpec | None:
    """A procedural backdrop for `lighting.backdrop_fraction` of the groups, else None."""
    if not rng.random() < cfg.backdrop_fraction:
        return None
    lo, hi = (int(x) for x in cfg.backdrop_clutter)
    return BackgroundSpec(type="backdrop", backdrop=BackdropSpec(seed=int(rng.integers(0, 2**31 - 1)),
                                                                 shapes=int(rng.integers(lo, hi + 1)),
                                                                 blur=float(rng.uniform(*cfg.backdrop_blur))))


def _needs(drawn: bool, head_model, attribute: str, key: str, why: str) -> None:
    """ConfigError naming config `key` when a part it drew needs a vertex attribute the head model lacks."""
    if drawn and attribute not in head_model.vertex_attributes:
        raise ConfigError(f"{key} > 0 but head model '{head_model.name}' has no {attribute.upper()} attribute "
                         f"({why}): set {key}: 0")


def sample_group(cfg, group: int, head_model, hdris: Sequence[AssetRef],
                 backgrounds: Sequence[AssetRef] = (), skin_textures: Sequence[AssetRef] = ()) -> GroupSpec:
    """The scene spec of group `group` of the corpus configured by `cfg`, lit by one of `hdris`
    (the corpus' HDRI pool, resolved once per corpus), maybe in front of one of `backgrounds` and
    with its skin's colour from one of `skin_textures`."""
    seed = group_seed(cfg.seed, group)
    rng = np.random.default_rng(seed)
    identity = head_model.sample_identity(rng, cfg.head)
    materials = sample_materials(rng, cfg.skin)
    lighting = sample_lighting(rng, cfg.lighting, hdris)
    shared = head_model.sample_expression(rng, cfg.head)
    views = []
    for _ in range(cfg.views):
        v = sample_view(rng, cfg, shared)
        if cfg.head.expression.per_view:
            v = v.model_copy(update={"expression": head_model.sample_expression(rng, cfg.head)})
        views.append(v)
    # Parts added later draw from streams of their own (STREAMS), so switching one on leaves every
    # other parameter as it was.
    def stream(part: str) -> np.random.Generator:
        return part_stream(seed, part)

    clip = None
    if cfg.clip is not None:  # the frames of a clip, seen by the first view's camera
        clip, views = sample_clip(stream("clip"), cfg, views[0].camera, head_model)

    fx = stream("effects")
    views = [v.model_copy(update={"effects": sample_effects(fx, cfg.effects)}) for v in views]
    shake = stream("motion_blur")
    views = [v.model_copy(update={"effects": sample_motion_blur(shake, cfg.effects, v.effects)}) for v in views]
    lighting = lighting.model_copy(update={"lights": sample_lights(stream("lights"), cfg.lighting)})
    lighting = sample_key_light(stream("key_light"), cfg.lighting, lighting, views[0])
    photo = sample_photo(stream("photo"), cfg.lighting, backgrounds)
    if photo is not None:
        lighting = lighting.model_copy(update={"background": photo})
    else:  # groups without a photo may stand before a procedural backdrop
        backdrop = sample_backdrop(stream("backdrop"), cfg.lighting)
        if backdrop is not None:
            lighting = lighting.model_copy(update={"background": backdrop})
    models = sample_photo_model(stream("photo_model"), cfg.effects, len(views))
    views = [v.model_copy(update={"photo": m}) if m is not None else v for v, m in zip(views, models)]
    skin = sample_skin_regions(stream("skin_regions"), cfg.skin, materials.skin)
    albedo = sample_albedo(stream("albedo"), cfg.skin, skin_textures)
    if albedo is not None:
        if getattr(head_model, "face_uvs", None) is None:
            raise ConfigError(f"skin.albedo_fraction > 0 but head model '{head_model.name}' has no UVs "
                             "(face_uvs) to put a texture on: set skin.albedo_fraction: 0")
        skin = skin.model_copy(update={"albedo": albedo})
    if cfg.render.skin_shader == "mpfb" and getattr(head_model, "face_uvs", None) is None:
        raise ConfigError(f"render.skin_shader: mpfb lays MPFB's pores and SSS map on UVs, and head model "
                         f"'{head_model.name}' has none (face_uvs): set render.skin_shader: relhead")
    strands = sample_strands(stream("strands"), cfg.hair)
    _needs(strands is not None, head_model, SCALP, "hair.strands", "where hair grows")
    facial = sample_facial_hair(stream("facial_hair"), cfg.hair, identity)
    hair = sample_hair(stream("hair"), cfg.hair, skin, strands, facial, identity.age())
    _needs(hair is not None and hair.brow_strands, head_model, BROWS, "hair.brow_strands", "where brows grow")
    mouth = sample_mouth(stream("mouth"), materials.mouth, identity.age())
    eye = sample_eye_detail(stream("eye_detail"), cfg.eyes, materials.eye, skin.tone)
    skin = sample_skin_detail(stream("skin_detail"), cfg.skin, skin, identity.age())
    materials = materials.model_copy(update={"skin": skin, "hair": hair, "mouth": mouth, "eye": eye})
    garment = sample_garment(stream("garment"), cfg.clothing)
    _needs(garment is not None, head_model, TORSO, "clothing.fraction", "where clothes go")
    hat = sample_hat(stream("hat"), cfg.accessories)
    _needs(hat is not None, head_model, SCALP, "accessories.hats", "where hats sit")
    return GroupSpec(group=int(group), seed=seed, head=HeadSpec(model=head_model.name, identity=identity),
                     materials=materials, lighting=lighting, render_seed=int(rng.integers(0, 2**31 - 1)),
                     views=views, garment=garment, glasses=sample_glasses(stream("glasses"), cfg.accessories), hat=hat,
                     clip=clip)
