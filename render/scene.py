"""The Blender scene: head mesh (scene part), materials, world, camera, compositor; one per process.

Groups change values in place (materials, world, seed) and views move the mesh's vertices and the
camera, so nothing is rebuilt between renders.
The compositor lays the subject over the environment pass (HDRI or plain colour as the camera
sees it) and writes the alpha as the mask, so one render gives both images. With camera effects on
(config `effects.fraction` > 0) the image, not the mask, then goes through Blender's bundled
compositing groups Chromatic Aberration, Vignette and Sensor Noise, set (or muted) per view.
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

from relhead.assets.base import PART_EYE, PART_SKIN
from relhead.frames import blender_camera_from_opencv, blender_lens_from_K
from relhead.render import materials, settings
from relhead.render.hair import Strands, occluder_ribbons
from relhead.render.surface import join_meshes
from relhead.render.spec import EffectsSpec, GarmentSpec, GlassesSpec, GroupSpec, HatSpec, LightingSpec, LightSpec

EFFECT_GROUPS = ("Chromatic Aberration", "Vignette", "Sensor Noise")  # in the order they apply


def effect_node_groups() -> list:
    """The camera-effect compositing groups, appended from bpy's own CC0 node assets."""
    missing = [n for n in EFFECT_GROUPS if n not in bpy.data.node_groups]
    if missing:
        blend = Path(bpy.utils.system_resource("DATAFILES")) / "assets/nodes/compositing_nodes_essentials.blend"
        with bpy.data.libraries.load(str(blend)) as (_, dst):
            dst.node_groups = missing
    return [bpy.data.node_groups[n] for n in EFFECT_GROUPS]


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


class ProcessScene:
    """The process' Blender scene for one set of render settings, reused across groups and corpora:
    the head object is rebuilt when the head model changes, and per group only values change
    (materials, world, seed), so Cycles' persistent data keeps its shaders, images and BVH."""

    MAX_IMAGES = 4  # HDRIs kept loaded (each is its full float image in memory)

    def __init__(self, cfg):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self._tmp = tempfile.TemporaryDirectory(prefix="relhead-")
        self.camera = self._build_camera()
        self._world = self._build_world()
        self._images: dict[str, object] = {}  # path -> bpy image, least recently used first
        settings.apply(self.scene, cfg.render, cfg.image)
        self._effects: dict[str, object] = {}  # group name -> its compositor node, when effects are on
        self._photo = None  # (image node, switch node), when photo backgrounds are on
        self._build_compositor(**compositor_parts(cfg))
        self._head_model = None
        self.head = None
        self._lights: list = []  # extra light objects, made as groups need them, hidden when unused
        self._garment_material = materials.build_garment()
        self.garment = None  # the group's garment object, or None
        self._garment_vertices = np.zeros((0, 3))
        self._garment_faces = np.zeros((0, 3), int)
        self._hair_material = materials.build_strand_hair()
        self.hair = None  # the group's strand hair (a Curves object in the head frame), or None
        self._hair_occluder = _NO_OCCLUDER  # its proxy for landmark visibility (head frame)
        self._facial_material = materials.build_strand_hair("facial_hair")
        self._lash_material = materials.build_strand_hair("eyelashes")
        self.facial = None  # the group's facial hair (a Curves object in the head frame, moved per view), or None
        self._facial_occluder = _NO_OCCLUDER
        self._glasses_materials = materials.build_glasses()
        self._hat_material = materials.build_garment("hat")
        self.hat = None  # the group's hat (a mesh in the head frame), or None
        self._hat_occluder = _NO_OCCLUDER
        self.glasses = None  # the group's glasses (a mesh in the head frame), or None
        self._glasses_occluder = _NO_OCCLUDER  # frames, and tinted lenses (head frame)
        self.scene.cycles_curves.shape = "RIBBONS"  # flat strands facing the camera: sub-pixel here anyway

    def _add(self, name: str, data):
        """A new object of `data` (a mesh or curves) in the scene."""
        ob = bpy.data.objects.new(name, data)
        self.scene.collection.objects.link(ob)
        return ob

    # ------------------------------------------------------------------ per corpus
    def prepare(self, cfg, head_model) -> None:
        self.cfg = cfg
        self.W, self.H = cfg.image.width, cfg.image.height
        if head_model is not self._head_model:
            self._build_head(head_model)
            self._head_model = head_model

    def _build_head(self, hm) -> None:
        if self.head is not None:
            _remove(self.head)
        me = bpy.data.meshes.new("head")
        me.from_pydata(np.zeros((int(hm.faces.max()) + 1, 3)).tolist(), [], hm.faces.tolist())
        me.polygons.foreach_set("material_index", hm.face_parts.astype(np.int32))
        me.polygons.foreach_set("use_smooth", np.ones(len(hm.faces), bool))
        for name, values in hm.vertex_attributes.items():
            a = me.attributes.new(name, "FLOAT_VECTOR", "POINT")
            a.data.foreach_set("vector", values.astype(np.float32).ravel())
        me.attributes.new(materials.SKIN_COORDS, "FLOAT_VECTOR", "POINT")
        uvs = getattr(hm, "face_uvs", None)
        if uvs is not None:  # per face corner, in the order from_pydata made the loops
            me.uv_layers.new(name="UVMap").data.foreach_set("uv", uvs.astype(np.float32).ravel())
        for mat in materials.build_head_materials(self.cfg.render.subsurface, self.cfg.render.skin_shader):
            me.materials.append(mat)  # slot index == part label
        self.head = self._add("head", me)
        # Occluders for landmark visibility: everything but the eyeballs, which poke slightly
        # through the eyelid rims where the eye landmarks sit.
        self._occluder_faces = hm.faces[hm.face_parts != PART_EYE]

    def _build_world(self):
        w = bpy.data.worlds.new("world")
        self.scene.world = w
        nt = w.node_tree
        bg = nt.nodes["Background"]
        env = nt.nodes.new("ShaderNodeTexEnvironment")
        env.name = "env"
        mapping = nt.nodes.new("ShaderNodeMapping")
        mapping.name = "mapping"
        coords = nt.nodes.new("ShaderNodeTexCoord")
        nt.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        # Camera rays see the HDRI or a plain colour (use_color = 1); everything is lit by the HDRI.
        path = nt.nodes.new("ShaderNodeLightPath")
        use_color = nt.nodes.new("ShaderNodeMath")
        use_color.name, use_color.operation = "use_color", "MULTIPLY"
        nt.links.new(path.outputs["Is Camera Ray"], use_color.inputs[0])
        mix = nt.nodes.new("ShaderNodeMix")
        mix.name, mix.data_type = "background", "RGBA"
        nt.links.new(use_color.outputs["Value"], mix.inputs["Factor"])
        nt.links.new(env.outputs["Color"], mix.inputs["A"])
        nt.links.new(mix.outputs["Result"], bg.inputs["Color"])
        return w

    def _image(self, path: Path):
        key = str(path)
        img = self._images.pop(key, None) or bpy.data.images.load(key)
        self._images[key] = img
        while len(self._images) > self.MAX_IMAGES:
            bpy.data.images.remove(self._images.pop(next(iter(self._images))))
        return img

    def _build_camera(self):
        cam = bpy.data.cameras.new("camera")
        cam.clip_start, cam.clip_end = 0.01, 100.0
        ob = bpy.data.objects.new("camera", cam)
        self.scene.collection.objects.link(ob)
        self.scene.camera = ob
        return ob

    def _build_compositor(self, effects: bool, photos: bool) -> None:
        """Subject over the environment pass (what the camera sees behind it), or over a photo scaled
        to cover the frame when `photos`, as the image, through the camera effects when `effects`;
        the render's alpha as the mask, written by a File Output node."""
        self.scene.view_layers[0].use_pass_environment = True
        g = bpy.data.node_groups.new("relhead", "CompositorNodeTree")
        self.scene.compositing_node_group = g
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
        img = self.scene.render.image_settings
        img.file_format, img.color_mode, img.color_depth, img.compression = "PNG", "RGB", "8", 0
        self.scene.render.filepath = str(Path(self._tmp.name) / "rgb.png")

    # ------------------------------------------------------------------ per group
    def set_group(self, spec: GroupSpec, hdri_file: Path, photo_file: Path | None = None,
                  albedo_file: Path | None = None) -> None:
        """The group's materials, world and seed; `photo_file` and `albedo_file` are this host's files
        of its photo background and skin albedo texture, if it has them."""
        mats = list(self.head.data.materials)
        materials.set_head_materials(mats, spec.materials)
        if (albedo_file is None) != (spec.materials.skin.albedo is None):
            raise RuntimeError("an albedo file for a spec without a skin texture, or none for one with")
        if albedo_file is not None:
            if not self.head.data.uv_layers:
                raise RuntimeError(f"a skin texture on head model '{self._head_model.name}', which has no UVs")
            mats[PART_SKIN].node_tree.nodes["albedo"].image = self._image(albedo_file)
        light: LightingSpec = spec.lighting
        nodes = self._world.node_tree.nodes
        nodes["env"].image = self._image(hdri_file)
        nodes["mapping"].inputs["Rotation"].default_value = (0.0, 0.0, math.radians(light.rotation_deg))
        nodes["Background"].inputs["Strength"].default_value = light.strength
        materials.set_clear_lens(self._glasses_materials[2], nodes["env"].image,
                                 nodes["mapping"].inputs["Rotation"].default_value, light.strength)
        plain = light.background.type == "color"
        nodes["use_color"].inputs[1].default_value = 1.0 if plain else 0.0
        colour = [c / max(light.strength, 1e-6) for c in light.background.color] if plain else [0.0] * 3
        nodes["background"].inputs["B"].default_value = (*colour, 1.0)
        settings.set_seed(self.scene, spec.render_seed)
        if photo_file is not None and self._photo is None:
            raise RuntimeError("a photo background in a spec rendered by a scene built without them")
        if self._photo is not None:
            node, switch = self._photo
            switch.inputs["Switch"].default_value = photo_file is not None
            node.image = self._image(photo_file) if photo_file is not None else None

    def set_lights(self, lights: list[LightSpec], T_world_head: np.ndarray, world_strength: float) -> None:
        """Place the group's extra lights around the head (head frame of `T_world_head`). A light of
        strength 1 gives a surface facing it the irradiance a uniform world of `world_strength` gives."""
        for i, spec in enumerate(lights):
            if i == len(self._lights):
                ob = bpy.data.objects.new(f"light{i}", bpy.data.lights.new(f"light{i}", "POINT"))
                ob.visible_camera = False  # seen in reflections, never as a patch in the image
                self.scene.collection.objects.link(ob)
                self._lights.append(ob)
            ob = self._lights[i]
            ob.hide_render = False
            ob.data.type = "AREA" if spec.kind == "area" else "POINT"
            L = ob.data
            L.use_temperature, L.temperature, L.color = True, spec.kelvin, (1.0, 1.0, 1.0)
            a, e = math.radians(spec.azimuth_deg), math.radians(spec.elevation_deg)
            u = T_world_head[:3, :3] @ np.array([math.cos(e) * math.sin(a), -math.sin(e), -math.cos(e) * math.cos(a)])
            # Irradiance at distance d: point P / (4 pi^2 d^2), small area light facing it P / (pi^2 d^2).
            geometric = (4.0 if spec.kind == "point" else 1.0) * math.pi ** 2 * spec.distance_m ** 2
            L.energy = spec.strength * world_strength * geometric
            if spec.kind == "area":
                L.shape, L.size = "SQUARE", max(spec.size_m, 1e-3)
            else:
                L.shadow_soft_size = spec.size_m
            x = np.cross([0.0, 0.0, 1.0], u) if abs(u[2]) < 0.9 else np.cross([1.0, 0.0, 0.0], u)
            x /= np.linalg.norm(x)
            M = np.eye(4)
            M[:3, 0], M[:3, 1], M[:3, 2] = x, np.cross(u, x), u  # emits along -z: toward the head
            M[:3, 3] = T_world_head[:3, 3] + spec.distance_m * u
            ob.matrix_world = Matrix(M.tolist())
        for ob in self._lights[len(lights):]:
            ob.hide_render = True

    def set_garment(self, spec: GarmentSpec | None, faces: np.ndarray | None = None,
                    pattern: np.ndarray | None = None) -> None:
        """The group's garment (its faces and fabric coordinates, relhead.render.garment), or none.
        Its mesh is made per group (the neckline changes its topology); views move its vertices."""
        if self.garment is not None:
            _remove(self.garment)
            self.garment, self._garment_faces = None, np.zeros((0, 3), int)
        self._garment_vertices = np.zeros((0, 3))
        if spec is None:
            return
        me = _fabric_mesh("garment", np.zeros((len(pattern), 3)), faces, pattern, self._garment_material)
        materials.set_garment(self._garment_material, spec)
        self.garment = self._add("garment", me)
        self._garment_faces = np.asarray(faces)

    def _drop(self, part: str) -> None:
        """Remove the group's rigid or facial part `part` (hair, facial, hat, glasses) and its occluder."""
        if getattr(self, part) is not None:
            _remove(getattr(self, part))
            setattr(self, part, None)
            setattr(self, f"_{part}_occluder", _NO_OCCLUDER)

    def set_strands(self, strands=None, hair=None) -> None:
        """The group's strand hair (relhead.render.hair.Strands, head frame; `hair` its HairSpec), or none.
        Views place it rigidly with the skull."""
        self._drop("hair")
        if strands is None:
            return
        c = _curves("hair", strands, [self._hair_material])
        materials.set_strand_hair(self._hair_material, hair)
        self.hair = self._add("hair", c)
        self._hair_occluder = occluder_ribbons(strands)

    def set_facial_hair(self, strands=None, hair=None, lashes: np.ndarray | None = None) -> None:
        """The group's facial hair and eyelashes (relhead.render.hair.Strands of its first view, head
        frame; `hair` its HairSpec; `lashes` which strands are eyelashes: their own dark material, and
        they hide no landmark), or none. Views move its points with the jaw and lids (set_view's `facial`)."""
        if strands is not None and lashes is None:
            lashes = np.zeros(len(strands.points), bool)
        self._facial_lashes = lashes
        self._drop("facial")
        if strands is None:
            return
        c = _curves("facial_hair", strands, [self._facial_material, self._lash_material])
        m = c.attributes.new("material_index", "INT", "CURVE")
        m.data.foreach_set("value", self._facial_lashes.astype(np.int32))  # slot 1: the lashes
        materials.set_facial_hair(self._facial_material, hair, self._lash_material)
        self.facial = self._add("facial_hair", c)  # its occluder comes with each view (set_view)

    def _move_facial_hair(self, strands) -> None:
        c = self.facial.data
        c.attributes["position"].data.foreach_set("vector", strands.points.astype(np.float32).ravel())
        c.update_tag()
        keep = ~self._facial_lashes  # lashes hide no landmark
        self._facial_occluder = occluder_ribbons(Strands(points=strands.points[keep], radii=strands.radii[keep]))

    def set_hat(self, spec: HatSpec | None = None, mesh=None) -> None:
        """The group's hat (`mesh` a relhead.render.hats.HatMesh, head frame), or none. Views place it
        rigidly with the skull."""
        self._drop("hat")
        if spec is None:
            return
        me = _fabric_mesh("hat", mesh.vertices, mesh.faces, mesh.fabric, self._hat_material)
        materials.set_garment(self._hat_material, spec)
        self.hat = self._add("hat", me)
        self._hat_occluder = (mesh.vertices, mesh.faces)

    def set_glasses(self, spec: GlassesSpec | None = None, mesh=None) -> None:
        """The group's glasses (`mesh` a relhead.render.glasses.GlassesMesh, head frame), or none.
        Views place them rigidly with the skull."""
        self._drop("glasses")
        if spec is None:
            return
        me = bpy.data.meshes.new("glasses")
        me.from_pydata(mesh.vertices.tolist(), [], mesh.faces.tolist())
        slot = np.where(mesh.lens, 1 if spec.tinted else 2, 0)  # 0 frame, 1 tinted lens, 2 clear lens
        me.polygons.foreach_set("material_index", slot.astype(np.int32))
        me.polygons.foreach_set("use_smooth", ~mesh.lens)
        for mat in self._glasses_materials:
            me.materials.append(mat)
        materials.set_glasses(*self._glasses_materials, spec)
        self.glasses = self._add("glasses", me)
        # Clear lenses let the eyes be seen; tinted ones hide them.
        self._glasses_occluder = (mesh.vertices, mesh.faces if spec.tinted else mesh.faces[~mesh.lens])

    # ------------------------------------------------------------------ per view
    def set_view(self, vertices: np.ndarray, T_world_head: np.ndarray, K: np.ndarray, R_w2c: np.ndarray,
                 t_w2c: np.ndarray, garment: np.ndarray | None = None, facial=None) -> None:
        """Pose the head (and the garment, whose vertices `garment` gives, and the facial hair, the
        view's relhead.render.hair.Strands `facial` in the head frame) and place the camera."""
        if (garment is None) != (self.garment is None) or (facial is None) != (self.facial is None):
            raise RuntimeError("garment vertices or facial hair for a scene without it, or none for one with")
        if facial is not None:
            self._move_facial_hair(facial)
        if garment is not None:
            self.garment.data.vertices.foreach_set("co", garment.astype(np.float32).ravel())
            self.garment.data.update()
            self._garment_vertices = garment
        for rigid in (self.hair, self.glasses, self.facial, self.hat):  # in the head frame
            if rigid is not None:
                rigid.matrix_world = Matrix(T_world_head.tolist())
        self._T_world_head = T_world_head
        me = self.head.data
        me.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
        head_frame = (vertices - T_world_head[:3, 3]) @ T_world_head[:3, :3]  # textures stay on the skin
        me.attributes[materials.SKIN_COORDS].data.foreach_set("vector", head_frame.astype(np.float32).ravel())
        me.update()
        for k, v in blender_lens_from_K(K, self.W, self.H, sensor_mm=self.cfg.camera.sensor_mm).items():
            setattr(self.camera.data, k, v)
        self.camera.matrix_world = Matrix(blender_camera_from_opencv(R_w2c, t_w2c).tolist())
        self._vertices = vertices

    def set_effects(self, fx: EffectsSpec | None, focus_m: float) -> None:
        """The view's camera effects; depth of field focuses at `focus_m` along the optical axis."""
        fx = fx or EffectsSpec()
        self.scene.frame_current = fx.noise_seed if fx.sensor_noise else 1
        self._shake(fx)
        dof = self.camera.data.dof
        dof.use_dof = fx.f_number > 0
        if dof.use_dof:
            dof.aperture_fstop, dof.focus_distance = fx.f_number, focus_m
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
        n["Sensor Noise"].inputs["Chroma Noise"].default_value = fx.sensor_noise / 2

    def _shake(self, fx: EffectsSpec) -> None:
        """No camera animation left from another view; motion blur on for this one if it has it."""
        self.camera.animation_data_clear()
        self.scene.render.use_motion_blur = fx.motion_blur_px > 0
        if fx.motion_blur_px > 0:  # keys around the frame this view renders
            self._shake_keys(fx)

    def _shake_keys(self, fx: EffectsSpec) -> None:
        """Camera shake over one frame's exposure, centred on the frame: the camera turns about its own
        centre so that the image moves `motion_blur_px` along `motion_blur_deg`, from -1/2 to +1/2."""
        cam = self.camera
        f_px = cam.data.lens / cam.data.sensor_width * max(self.W, self.H)
        angle = fx.motion_blur_px / f_px
        phi = math.radians(fx.motion_blur_deg)
        axis = (math.sin(phi), math.cos(phi), 0.0)  # camera-local (x right, y up): image y points down
        M = cam.matrix_world.copy()
        frame = self.scene.frame_current
        bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"  # a steady turn
        for sign in (-1.0, 1.0):
            cam.matrix_world = M @ Matrix.Rotation(sign * angle / 2, 4, axis)
            for path in ("location", "rotation_euler"):
                cam.keyframe_insert(path, frame=frame + sign * 0.5)
        cam.matrix_world = M

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """Render the current view: (H, W, 3) uint8 RGB and (H, W) uint8 alpha mask."""
        self.render_still()
        return self.read_back()

    def render_still(self) -> None:
        with _quiet_stdout():
            bpy.ops.render.render(write_still=True)

    def read_back(self) -> tuple[np.ndarray, np.ndarray]:
        tmp = Path(self._tmp.name)
        rgb = np.asarray(Image.open(tmp / "rgb.png").convert("RGB"))
        mask_file = next(tmp.glob("mask*.png"))
        mask = np.asarray(Image.open(mask_file).convert("L"))
        mask_file.unlink()
        return rgb, mask

    def close(self) -> None:
        self._tmp.cleanup()

    def visible(self, points: np.ndarray, camera_center: np.ndarray, eps: float = 8e-3) -> np.ndarray:
        """Whether each world point is unoccluded: nothing (head, garment, the scalp and facial hair's
        proxies of relhead.render.hair.occluder_ribbons, a glasses frame or tinted lens, a hat) lies on its ray from
        the camera centre more than `eps` in front of it. Eyelid-rim and inner-lip landmarks sit in creases a few mm behind
        the surrounding skin; a head occluding itself does so by centimetres."""
        T = self._T_world_head
        parts = [(self._vertices, self._occluder_faces), (self._garment_vertices, self._garment_faces)]
        rigid = (self._hair_occluder, self._facial_occluder, self._glasses_occluder, self._hat_occluder)  # head frame
        parts += [(v @ T[:3, :3].T + T[:3, 3], f) for v, f in rigid]
        verts, faces = join_meshes(parts)
        bvh = BVHTree.FromPolygons(verts.tolist(), faces.tolist())
        c = Vector(camera_center.tolist())
        out = np.zeros(len(points), bool)
        for i, p in enumerate(points):
            d = Vector(p.tolist()) - c
            dist = d.length
            hit, _, _, hit_dist = bvh.ray_cast(c, d.normalized(), dist + 1.0)
            out[i] = hit is None or hit_dist >= dist - eps
        return out


_NO_OCCLUDER = (np.zeros((0, 3)), np.zeros((0, 3), int))


def _remove(ob) -> None:
    """A scene object and its data (mesh or curves), gone."""
    data = ob.data
    bpy.data.objects.remove(ob)
    (bpy.data.hair_curves if isinstance(data, bpy.types.Curves) else bpy.data.meshes).remove(data)


def _fabric_mesh(name: str, vertices: np.ndarray, faces: np.ndarray, fabric: np.ndarray, material):
    """A smooth-shaded mesh in `material` with fabric coordinates per vertex (garments and hats)."""
    me = bpy.data.meshes.new(name)
    me.from_pydata(np.asarray(vertices).tolist(), [], np.asarray(faces).tolist())
    me.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    a = me.attributes.new(materials.CLOTH_COORDS, "FLOAT_VECTOR", "POINT")
    a.data.foreach_set("vector", fabric.astype(np.float32).ravel())
    me.materials.append(material)
    return me


def _curves(name: str, strands: Strands, mats: list):
    """Hair curves of `strands` (positions and radii) with material slots `mats`."""
    S, P, _ = strands.points.shape
    c = bpy.data.hair_curves.new(name)
    c.add_curves([P] * S)
    c.attributes["position"].data.foreach_set("vector", strands.points.astype(np.float32).ravel())
    r = c.attributes.new("radius", "FLOAT", "POINT")
    r.data.foreach_set("value", strands.radii.astype(np.float32).ravel())
    for m in mats:
        c.materials.append(m)
    return c


def compositor_parts(cfg) -> dict[str, bool]:
    """Which optional compositor branches a config's scene is built with (part of its scene key)."""
    return {"effects": cfg.effects.fraction > 0, "photos": cfg.lighting.image_background_fraction > 0}


_SCENE: tuple[str, ProcessScene] | None = None


def process_scene(cfg, head_model) -> ProcessScene:
    """The process' scene, prepared for `cfg` and `head_model`. Other render or image settings get
    a fresh scene: Cycles' persistent data does not reliably take up settings changed between
    renders of an unchanged scene, and the pixels must depend on the config alone."""
    global _SCENE
    key = cfg.render.model_dump_json(exclude={"threads"}) + cfg.image.model_dump_json() + str(compositor_parts(cfg))
    if _SCENE is None or _SCENE[0] != key:
        if _SCENE is not None:
            _SCENE[1].close()
        _SCENE = (key, ProcessScene(cfg))
    scene = _SCENE[1]
    settings.set_threads(scene.scene, cfg.render.threads)
    scene.prepare(cfg, head_model)
    return scene
