"""The compositor in Blender: the subject over the environment pass (the HDRI or plain colour as the
camera sees it) or over a photo, as the image, and the render's alpha as the mask, so one render
gives both. With camera effects on (config `effects.fraction` > 0) the image, not the mask, then goes
through Blender's bundled compositing groups Chromatic Aberration, Vignette and Sensor Noise, set
(or muted) per view.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy
import numpy as np
from PIL import Image

from relhead.config import CHROMA_NOISE_BEFORE
from relhead.render.spec import EffectsSpec

EFFECT_GROUPS = ("Chromatic Aberration", "Vignette", "Sensor Noise")  # in the order they apply


def effect_node_groups() -> list:
    """The camera-effect compositing groups, appended from bpy's own CC0 node assets."""
    missing = [n for n in EFFECT_GROUPS if n not in bpy.data.node_groups]
    if missing:
        blend = Path(bpy.utils.system_resource("DATAFILES")) / "assets/nodes/compositing_nodes_essentials.blend"
        with bpy.data.libraries.load(str(blend)) as (_, dst):
            dst.node_groups = missing
    return [bpy.data.node_groups[n] for n in EFFECT_GROUPS]


def compositor_parts(cfg) -> dict[str, bool]:
    """Which optional compositor branches a config's scene is built with (part of its scene key); procedural
    backdrops (relhead.render.backdrop) go behind the subject the way photos do."""
    return {"effects": cfg.effects.fraction > 0,
            "photos": cfg.lighting.image_background_fraction > 0 or cfg.lighting.backdrop_fraction > 0}


class Compositor:
    def __init__(self, scene, effects: bool, photos: bool) -> None:
        """Subject over the environment pass (what the camera sees behind it), or over a photo scaled
        to cover the frame when `photos`, as the image, through the camera effects when `effects`;
        the render's alpha as the mask, written by a File Output node."""
        self.scene = scene
        self._tmp = tempfile.TemporaryDirectory(prefix="relhead-")
        self._effects: dict[str, object] = {}  # group name -> its compositor node, when effects are on
        self._photo = None  # (image node, switch node), when photo backgrounds are on
        scene.view_layers[0].use_pass_environment = True
        g = bpy.data.node_groups.new("relhead", "CompositorNodeTree")
        scene.compositing_node_group = g
        g.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        rl = g.nodes.new("CompositorNodeRLayers")
        over = g.nodes.new("CompositorNodeAlphaOver")
        out = g.nodes.new("NodeGroupOutput")
        background = over.inputs["Background"]
        if photos:  # a switch per group between what the camera sees and the photo
            photo, scale, switch = (g.nodes.new(t) for t in ("CompositorNodeImage", "CompositorNodeScale",
                                                             "CompositorNodeSwitch"))
            scale.inputs["Type"].default_value, scale.inputs["Frame Type"].default_value = "Render Size", "Crop"
            g.links.new(photo.outputs["Image"], scale.inputs["Image"])
            g.links.new(scale.outputs["Image"], switch.inputs["On"])
            g.links.new(switch.outputs[0], background)
            background = switch.inputs["Off"]
            self._photo = (photo, switch)
        if "Environment" in rl.outputs:  # Cycles and EEVEE; Workbench has no environment pass
            g.links.new(rl.outputs["Environment"], background)
        else:
            background.default_value = (0.0, 0.0, 0.0, 1.0)
        g.links.new(rl.outputs["Image"], over.inputs["Foreground"])
        image = over.outputs["Image"]
        for tree in effect_node_groups() if effects else ():
            node = g.nodes.new("CompositorNodeGroup")
            node.node_tree = tree
            g.links.new(image, node.inputs["Image"])
            image = node.outputs["Image"]
            self._effects[tree.name] = node
        if effects:  # noise from the frame number too, which each view sets from its spec
            self._effects["Sensor Noise"].inputs["Animated"].default_value = True
        g.links.new(image, out.inputs["Image"])
        fo = g.nodes.new("CompositorNodeOutputFile")
        fo.directory = self._tmp.name
        fo.file_name = "mask"
        fo.format.media_type = "IMAGE"
        fo.format.file_format = "PNG"
        fo.format.color_mode = "BW"
        fo.format.color_depth = "8"
        fo.format.compression = 0
        fo.file_output_items.new("FLOAT", "alpha")
        g.links.new(rl.outputs["Alpha"], fo.inputs["alpha"])
        img = scene.render.image_settings
        img.file_format, img.color_mode, img.color_depth, img.compression = "PNG", "RGB", "8", 0
        scene.render.filepath = str(Path(self._tmp.name) / "rgb.png")

    def backdrop_file(self) -> Path:
        """Where a group's procedural backdrop is written for its image node to read."""
        return Path(self._tmp.name) / "backdrop.png"

    def set_photo(self, image) -> None:
        """The group's photo background (a loaded image), or None: what the camera sees."""
        if image is not None and self._photo is None:
            raise RuntimeError("a photo background in a spec rendered by a scene built without them")
        if self._photo is not None:
            node, switch = self._photo
            switch.inputs["Switch"].default_value = image is not None
            node.image = image

    def set_effects(self, fx: EffectsSpec) -> None:
        """The view's sensor noise, vignette and chromatic aberration (a group at 0 is muted). Blender's
        Sensor Noise varies each pixel's brightness (luminance noise) and turns its hue (chroma noise)."""
        lens = {"Chromatic Aberration": fx.chromatic_aberration, "Vignette": fx.vignette,
                "Sensor Noise": fx.sensor_noise}
        if not self._effects:
            if any(lens.values()):
                raise RuntimeError("camera effects in a spec rendered by a scene built without them")
            return
        for name, value in lens.items():
            node = self._effects[name]
            node.mute = value == 0  # a muted group passes its image through
        n = self._effects
        n["Chromatic Aberration"].inputs["Factor"].default_value = max(fx.chromatic_aberration, 1e-4)
        n["Vignette"].inputs["Factor"].default_value = fx.vignette
        n["Sensor Noise"].inputs["Luminance Noise"].default_value = fx.sensor_noise
        chroma = fx.sensor_noise * CHROMA_NOISE_BEFORE if fx.chroma_noise is None else fx.chroma_noise
        n["Sensor Noise"].inputs["Chroma Noise"].default_value = chroma

    def read_back(self) -> tuple[np.ndarray, np.ndarray]:
        """The last render: (H, W, 3) uint8 RGB and (H, W) uint8 alpha mask."""
        tmp = Path(self._tmp.name)
        rgb = np.asarray(Image.open(tmp / "rgb.png").convert("RGB"))
        mask_file = next(tmp.glob("mask*.png"))
        mask = np.asarray(Image.open(mask_file).convert("L"))
        mask_file.unlink()
        return rgb, mask

    def close(self) -> None:
        self._tmp.cleanup()
