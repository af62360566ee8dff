"""The typed scene spec of a group: everything sampled for one subject and its V views.

A spec is plain data with an exact JSON round trip (`GroupSpec.model_validate_json(s.model_dump_json())
== s`); it goes into meta.json whole, so any host can re-render the group from it. Assets are named
by source, name and content hash (:class:`AssetRef`), never by host path. New scene parts (hair,
garments, accessories) and other head models add typed fields here.
"""

from __future__ import annotations

import math

from typing import ClassVar, Literal

from pydantic import SerializeAsAny, field_validator, model_serializer

from relhead.assets import registry
from relhead.assets.base import Identity
from relhead.assets.refs import AssetRef
from relhead.config import FacialStyle, GarmentStyle, GlassesStyle, HairStyle, HatStyle, Pattern
from relhead.configbase import Strict

SPEC_FORMAT = "relhead-spec/1"

RGB = tuple[float, float, float]  # linear RGB in [0, 1]


class Spec(Strict):
    """A spec type whose `optional` fields (added after specs were written without them) are left out
    of its JSON while None, so the specs of configs that leave them off keep their bytes."""

    optional: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _optional_only_when_set(self, handler):
        out = handler(self)
        for name in self.optional:
            if getattr(self, name) is None:
                out.pop(name, None)
        return out


class Euler(Strict):
    """Degrees, in relhead.frames' convention."""

    yaw: float
    pitch: float
    roll: float


class CameraSpec(Strict):
    focal_mm: float
    sensor_mm: float
    face_fill: float  # head width as a share of the image width: sets the distance
    principal_offset: tuple[float, float]  # share of the image size
    lookat_offset: tuple[float, float]  # share of the distance


class EffectsSpec(Spec):
    """Camera effects of one view (config `effects:`); 0 is off."""

    optional: ClassVar[tuple[str, ...]] = ("chroma_noise",)
    sensor_noise: float = 0.0  # luminance noise
    chroma_noise: float | None = None  # chroma noise; None: half the luminance noise, as before the key existed
    noise_seed: int = 0  # the compositor's noise pattern (its frame number)
    vignette: float = 0.0
    chromatic_aberration: float = 0.0
    f_number: float = 0.0  # depth of field at this aperture, focused on the head's origin; 0: none
    motion_blur_px: float = 0.0  # camera shake over the exposure: the image moves this far (pixels, centred)
    motion_blur_deg: float = 0.0  # its direction in the image, from +x toward +y (down)


class PhotoSpec(Strict):
    """The camera model of one view (config `effects.photo_fraction`; relhead.render.photo), applied to the
    rendered image in this order: lens softness, exposure and white balance, shot and read noise, the
    picture style's tone curve and saturation, JPEG."""

    softness_px: float  # Gaussian sigma (pixels)
    exposure_ev: float  # stops; the linear signal is scaled by 2 ** exposure_ev
    white_balance: RGB  # gains on the linear signal (green 1)
    shot_noise: float  # photon noise: variance per unit of linear signal
    read_noise: float  # standard deviation, linear units
    contrast: float  # the tone curve's S: 0 none .. 1 smoothstep
    saturation: float  # 1: as rendered
    jpeg_quality: int  # 1 .. 100
    seed: int  # of the noise


class ViewSpec(Spec):
    optional: ClassVar[tuple[str, ...]] = ("photo",)

    euler_deg: Euler  # head pose in the camera
    neck_share: float  # share of the rotation done by the neck; the camera orbits for the rest
    gaze_deg: tuple[float, float]  # (yaw, pitch) of both eyes in the head frame
    camera: CameraSpec
    expression: dict[str, float]  # the backend's named expression parameters
    effects: EffectsSpec | None = None  # None: no camera effects
    photo: PhotoSpec | None = None  # None: the render as it comes (and the field is not written)


class HeadSpec(Strict):
    model: str  # a registered head-model backend
    identity: SerializeAsAny[Identity]  # that backend's Identity subclass

    @field_validator("identity", mode="wrap")
    @classmethod
    def _backend_identity(cls, value, handler, info):
        if isinstance(value, Identity):
            return value
        try:
            section = registry.backend(info.data["model"]).identity
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return section.model_validate(value)


class MakeupSpec(Strict):
    """Make-up of a detailed skin: colours (linear RGB) and strengths 0 .. 1 (0: none)."""

    lips: RGB
    lips_strength: float
    blush: RGB
    blush_strength: float
    shadow: RGB  # eye shadow on the upper lids
    shadow_strength: float


class SkinDetailSpec(Strict):
    """A skin whose colour, roughness and sheen vary over the face (config `skin.detail`;
    relhead.render.blender.materials, region weights from relhead.render.parts.face_areas)."""

    seed: float  # offsets the detail's noise textures
    variation: float  # darker and lighter regions (low-frequency), +- share of the colour
    mottling: float  # small red-brown blotches
    flush: float  # redness of the cheeks and the nose
    under_eye: float  # darker skin under the eyes
    freckles: float  # density of freckles; 0: none
    freckle_size: float  # their spacing (mm)
    roughness_variation: float  # +- over the face; the forehead and nose are glossier (the T-zone)
    sheen: float  # the specular level is multiplied by this (< 1: a duller, less plastic sheen)
    age: float  # 0 .. 1: wrinkle relief on the forehead and round the eyes, age spots, sagging shade
    makeup: MakeupSpec | None = None


class SkinSpec(Spec):
    optional: ClassVar[tuple[str, ...]] = ("detail",)

    tone: float  # 0 light .. 1 dark
    base_color: RGB
    roughness: float
    subsurface: float
    blotch_strength: float
    noise_seed: float
    region_tint: float = 0.0  # strength of the lips, ears and eyelids tints; 0: none
    lip_color: RGB | None = None
    albedo: AssetRef | None = None  # a texture on the head model's UVs for the skin's colour (skin.albedo_dir)
    specular: float = 0.5  # the Principled BSDF's specular IOR level (0.5: skin's IOR as is)
    detail: SkinDetailSpec | None = None  # None: the plain skin (and the field is not written)


class EyeDetailSpec(Strict):
    """Detailed eyes (config `eyes.detail`; relhead.render.blender.materials.build_eye): the iris'
    fibres, collarette and limbal ring, the sclera's tint and veins."""

    collarette: RGB  # the iris' colour round the pupil
    collarette_size: float  # its reach, share of the iris radius
    fibres: float  # contrast of the radial fibres, 0 .. 1
    fibre_scale: float  # fibres round the iris
    limbal: float  # darkness of the limbal ring, 0 .. 1
    limbal_width: float  # its width, share of the iris radius
    sclera: RGB  # linear RGB
    veins: float  # 0 .. 1
    seed: float  # offsets the noise textures


class EyeSpec(Spec):
    optional: ClassVar[tuple[str, ...]] = ("detail",)

    iris_color: RGB
    iris_deg: float  # half-angle of the iris cone from the eyeball centre
    pupil_deg: float
    detail: EyeDetailSpec | None = None  # None: relhead's flat iris (and the field is not written)


class MouthSpec(Strict):
    """The inside of the mouth: its walls, and the teeth and tongue of head models that have them."""

    base_color: RGB
    teeth_color: RGB | None = None  # None: specs written before teeth were sampled
    tongue_color: RGB | None = None


TIED = ("ponytail", "bun")  # styles whose hair is gathered at the back of the head (StrandsSpec.tie_height)


class StrandsSpec(Strict):
    """Scalp hair as strands (config `hair.strands`; grown by relhead.render.parts.hair from `seed`)."""

    style: HairStyle
    seed: int
    count: int
    length_cm: float
    hairline_cm: float  # above the head model's hairline (receding when > 0)
    fringe: float  # 0: combed back, 1: falling forward from the crown
    parting_cm: float  # the crown's offset to the subject's left (> 0) or right
    volume_mm: float  # how far the hair stands off the scalp at most
    clump: float  # 0 .. 1: how far a strand's tip is drawn toward its clump's
    frizz_mm: float
    curl_radius_mm: float  # 0: straight
    curl_period_cm: float
    roughness: float  # the Principled Hair BSDF's
    tie_height: float | None = None  # ponytail and bun: where the hair is tied, 0 at the nape .. 1 high at the back


class FacialHairSpec(Strict):
    """Facial hair as strands (config `hair.facial_hair`; grown by relhead.render.parts.hair from `seed`)."""

    style: FacialStyle
    seed: int
    count: int
    length_mm: float
    neck_mm: float  # how far below the jaw line a beard reaches
    curl_radius_mm: float  # 0: straight
    frizz_mm: float


class HairSpec(Strict):
    """The subject's hair colour (melanin and redness, as the Principled Hair BSDF takes them, and
    the linear RGB that painted hair uses) and its eyebrows."""

    melanin: float
    redness: float
    color: RGB
    brow_density: float  # 0: no brows
    brow_thickness: float  # 1: the head model's default brow height
    scalp_density: float = 0.0  # painted short hair on the scalp; 0: bald
    hairline_cm: float = 0.0  # how far the hairline sits above the head model's (receding when > 0)
    strands: StrandsSpec | None = None  # None: no strand hair
    facial: FacialHairSpec | None = None  # None: a shaved face
    lash_density: float = 0.0  # eyelashes (relhead.render.parts.hair.grow_lashes); 0: none
    lash_length_mm: float = 0.0  # the longest upper lash
    face_seed: int = 0  # of the eyelashes and brow strands
    brow_strands: bool = False  # brows also drawn as strands (relhead.render.parts.hair.grow_brows)
    grey: float = 0.0  # share of white strands (greying with age); painted hair's colour is greyed to match


class GarmentSpec(Strict):
    """A garment over the shoulders and bust (config `clothing:`; geometry in relhead.render.parts.garment)."""

    style: GarmentStyle
    thickness_mm: float  # how far the fabric stands off the skin
    color: RGB
    pattern: Pattern
    pattern_color: RGB  # stripes, checks and heather's second colour
    pattern_scale_cm: float  # stripe and check period, heather grain
    roughness: float
    sheen: float


class GlassesSpec(Strict):
    """Glasses (config `accessories:`; geometry in relhead.render.parts.glasses)."""

    style: GlassesStyle
    lens_width_mm: float
    lens_height_mm: float
    bridge_mm: float  # between the lenses
    rim_mm: float  # the frame's tube radius (temples: 0.8 of it)
    metal: bool  # a thin metal frame, else acetate
    frame_color: RGB
    frame_roughness: float
    tinted: bool  # sunglasses: their lenses hide the eyes' landmarks
    lens_color: RGB  # the lenses' transmittance per channel


class HatSpec(Strict):
    """A hat (config `accessories.hats`; geometry in relhead.render.parts.hats) in a fabric like a garment's."""

    style: HatStyle
    edge_cm: float  # the edge line's shift up from the style's (cm)
    brim_cm: float  # a cap's brim; 0 for a beanie
    thickness_mm: float
    color: RGB
    pattern: Pattern
    pattern_color: RGB
    pattern_scale_cm: float
    roughness: float
    sheen: float


class MaterialsSpec(Strict):
    skin: SkinSpec
    eye: EyeSpec
    mouth: MouthSpec
    hair: HairSpec | None = None  # None: no hair of any kind


class BackdropSpec(Strict):
    """A procedural backdrop (config `lighting.backdrop_fraction`; drawn by relhead.render.backdrop from
    this spec alone): a wall or a room's corner with clutter, composited behind the subject like a photo."""

    seed: int
    shapes: int  # clutter: frames, shelves, windows, lamps, plants, stripes...
    blur: float  # defocus, share of the image width (Gaussian sigma)


class BackgroundSpec(Spec):
    optional: ClassVar[tuple[str, ...]] = ("backdrop",)

    type: Literal["hdri", "color", "image", "backdrop"]
    color: RGB | None = None  # for type 'color'
    image: AssetRef | None = None  # for type 'image': a photo from lighting.background_dir
    backdrop: BackdropSpec | None = None  # for type 'backdrop' (and only then written)


class LightSpec(Strict):
    """An extra light, placed in the head frame of the group's first view and fixed in the world."""

    kind: Literal["point", "area"]
    azimuth_deg: float  # about the head's vertical axis; 0: in front of the face, 90: the subject's left
    elevation_deg: float  # above the head's horizontal plane
    distance_m: float
    strength: float  # irradiance at the head as a share of a uniform world of the HDRI's strength
    kelvin: float
    size_m: float  # area light side, or point light radius

    def direction(self) -> tuple[float, float, float]:
        """The unit vector from the head toward the light, in the head frame of the group's first view."""
        return light_direction(self.azimuth_deg, self.elevation_deg)


def light_direction(azimuth_deg: float, elevation_deg: float) -> tuple[float, float, float]:
    """A light's (azimuth, elevation) -> the unit vector toward it in its head frame (x right, y down, the face
    toward -z). By the math module (libm), not numpy, whose SIMD sines differ from host to host in the last bit:
    these values go into the spec's bytes."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    return (math.cos(e) * math.sin(a), -math.sin(e), -math.cos(e) * math.cos(a))


def light_angles(u) -> tuple[float, float]:
    """The inverse of :func:`light_direction`: a unit vector -> (azimuth, elevation) in degrees."""
    x, y, z = (float(c) for c in u)
    return math.degrees(math.atan2(x, -z)), math.degrees(math.asin(min(1.0, max(-1.0, -y))))


class LightingSpec(Strict):
    hdri: AssetRef
    rotation_deg: float
    strength: float
    background: BackgroundSpec
    lights: list[LightSpec] = []


class ClipSpec(Strict):
    """A group that is a temporal clip (config `clip:`, relhead.render.clip): its views are frames in
    time order, view i at i / fps, all seen by the first view's camera (fixed in the world)."""

    fps: float


class GroupSpec(Spec):
    optional: ClassVar[tuple[str, ...]] = ("clip",)

    format: Literal["relhead-spec/1"] = SPEC_FORMAT
    group: int
    seed: int
    head: HeadSpec
    materials: MaterialsSpec
    lighting: LightingSpec
    render_seed: int
    views: list[ViewSpec]
    garment: GarmentSpec | None = None  # None: the bare bust
    glasses: GlassesSpec | None = None  # None: no glasses
    hat: HatSpec | None = None  # None: no hat
    clip: ClipSpec | None = None  # None: independent views (and the field is not written)
