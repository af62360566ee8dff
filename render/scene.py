"""One Blender scene per group: head mesh (scene part), materials, world, camera, compositor.

Views are rendered by moving the mesh's vertices and the camera; the scene is not rebuilt.
The compositor lays the subject over the environment pass (HDRI or plain colour as the camera
sees it) and writes the alpha as the mask, so one render gives both images.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector
from mathutils.bvhtree import BVHTree
from PIL import Image

from relhead.assets.base import PART_EYE
from relhead.frames import blender_camera_from_opencv, blender_lens_from_K
from relhead.render import materials, settings
from relhead.render.spec import GroupSpec, LightingSpec, MaterialsSpec


@contextmanager
def _quiet_stdout():
    """Blender prints a 'Saved: ...' line per render to the C stdout; keep it off the progress bar."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class GroupScene:
    def __init__(self, spec: GroupSpec, head_model, cfg, rest_vertices: np.ndarray, hdri_file: Path):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self.cfg = cfg
        self.W, self.H = cfg.image.width, cfg.image.height
        settings.apply(self.scene, cfg.render, cfg.image, seed=spec.render_seed)
        self._tmp = tempfile.TemporaryDirectory(prefix="relhead-")
        # Occluders for landmark visibility: everything but the eyeballs, which poke slightly
        # through the eyelid rims where the eye landmarks sit.
        self._occluder_faces = head_model.faces[head_model.face_parts != PART_EYE].tolist()
        self.head = self._build_head(head_model, spec.materials, rest_vertices)
        self._build_world(spec.lighting, hdri_file)
        self.camera = self._build_camera()
        self._build_compositor()

    # ------------------------------------------------------------------ scene parts
    def _build_head(self, hm, mats: MaterialsSpec, verts: np.ndarray):
        me = bpy.data.meshes.new("head")
        me.from_pydata(verts.astype(float).tolist(), [], hm.faces.tolist())
        me.polygons.foreach_set("material_index", hm.face_parts.astype(np.int32))
        me.polygons.foreach_set("use_smooth", np.ones(len(hm.faces), bool))
        for name, values in hm.vertex_attributes.items():
            a = me.attributes.new(name, "FLOAT_VECTOR", "POINT")
            a.data.foreach_set("vector", values.astype(np.float32).ravel())
        for mat in (materials.skin(mats.skin), materials.eye(mats.eye), materials.mouth(mats.mouth)):
            me.materials.append(mat)  # slot index == part label
        ob = bpy.data.objects.new("head", me)
        self.scene.collection.objects.link(ob)
        return ob

    def _build_world(self, light: LightingSpec, hdri_file: Path) -> None:
        w = bpy.data.worlds.new("world")
        self.scene.world = w
        nt = w.node_tree
        bg = nt.nodes["Background"]
        env = nt.nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(str(hdri_file), check_existing=True)
        mapping = nt.nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(light.rotation_deg))
        coords = nt.nodes.new("ShaderNodeTexCoord")
        nt.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        bg.inputs["Strength"].default_value = light.strength
        if light.background.type == "color":
            # Camera rays see a plain colour; everything else is lit by the HDRI.
            path = nt.nodes.new("ShaderNodeLightPath")
            mix = nt.nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            nt.links.new(path.outputs["Is Camera Ray"], mix.inputs["Factor"])
            nt.links.new(env.outputs["Color"], mix.inputs["A"])
            mix.inputs["B"].default_value = (*[c / max(light.strength, 1e-6) for c in light.background.color], 1.0)
            nt.links.new(mix.outputs["Result"], bg.inputs["Color"])
        else:
            nt.links.new(env.outputs["Color"], bg.inputs["Color"])

    def _build_camera(self):
        cam = bpy.data.cameras.new("camera")
        cam.clip_start, cam.clip_end = 0.01, 100.0
        ob = bpy.data.objects.new("camera", cam)
        self.scene.collection.objects.link(ob)
        self.scene.camera = ob
        return ob

    def _build_compositor(self) -> None:
        self.scene.view_layers[0].use_pass_environment = True
        g = bpy.data.node_groups.new("relhead", "CompositorNodeTree")
        self.scene.compositing_node_group = g
        g.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        rl = g.nodes.new("CompositorNodeRLayers")
        over = g.nodes.new("CompositorNodeAlphaOver")
        out = g.nodes.new("NodeGroupOutput")
        if "Environment" in rl.outputs:  # Cycles and EEVEE; Workbench has no environment pass
            g.links.new(rl.outputs["Environment"], over.inputs["Background"])
        else:
            over.inputs["Background"].default_value = (0.0, 0.0, 0.0, 1.0)
        g.links.new(rl.outputs["Image"], over.inputs["Foreground"])
        g.links.new(over.outputs["Image"], out.inputs["Image"])
        fo = g.nodes.new("CompositorNodeOutputFile")
        fo.directory = self._tmp.name
        fo.file_name = "mask"
        fo.format.media_type = "IMAGE"
        fo.format.file_format = "PNG"
        fo.format.color_mode = "BW"
        fo.format.color_depth = "8"
        fo.file_output_items.new("FLOAT", "alpha")
        g.links.new(rl.outputs["Alpha"], fo.inputs["alpha"])
        img = self.scene.render.image_settings
        img.file_format, img.color_mode, img.color_depth = "PNG", "RGB", "8"
        self.scene.render.filepath = str(Path(self._tmp.name) / "rgb.png")

    # ------------------------------------------------------------------ per view
    def set_view(self, vertices: np.ndarray, K: np.ndarray, R_w2c: np.ndarray, t_w2c: np.ndarray) -> None:
        me = self.head.data
        me.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
        me.update()
        for k, v in blender_lens_from_K(K, self.W, self.H, sensor_mm=self.cfg.camera.sensor_mm).items():
            setattr(self.camera.data, k, v)
        self.camera.matrix_world = Matrix(blender_camera_from_opencv(R_w2c, t_w2c).tolist())
        self._vertices = vertices

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """Render the current view: (H, W, 3) uint8 RGB and (H, W) uint8 alpha mask."""
        with _quiet_stdout():
            bpy.ops.render.render(write_still=True)
        tmp = Path(self._tmp.name)
        rgb = np.asarray(Image.open(tmp / "rgb.png").convert("RGB"))
        mask_file = next(tmp.glob("mask*.png"))
        mask = np.asarray(Image.open(mask_file).convert("L"))
        mask_file.unlink()
        return rgb, mask

    def visible(self, points: np.ndarray, camera_center: np.ndarray, eps: float = 8e-3) -> np.ndarray:
        """Whether each world point is unoccluded: nothing lies on its ray from the camera centre more
        than `eps` in front of it. Eyelid-rim and inner-lip landmarks sit in creases a few mm behind
        the surrounding skin; a head occluding itself does so by centimetres."""
        bvh = BVHTree.FromPolygons(self._vertices.astype(float).tolist(), self._occluder_faces)
        c = Vector(camera_center.tolist())
        out = np.zeros(len(points), bool)
        for i, p in enumerate(points):
            d = Vector(p.tolist()) - c
            dist = d.length
            hit, _, _, hit_dist = bvh.ray_cast(c, d.normalized(), dist + 1.0)
            out[i] = hit is None or hit_dist >= dist - eps
        return out

    def close(self) -> None:
        self._tmp.cleanup()
