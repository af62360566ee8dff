"""The process' Blender scene: the camera, the world, the compositor, the head and the scene parts;
one per process and render settings.

Groups change values in place (materials, world, seed) and remake only the parts' objects; views
move the head's vertices, the parts and the camera, so nothing else is rebuilt in bpy between renders
(Cycles renders every view in a fresh session, or a group's views in one: config render.session,
settings.apply). The scene parts are the classes in PARTS, each drawing its bpy-free geometry
(relhead.render.parts) in the order listed.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector
from mathutils.bvhtree import BVHTree

from relhead.assets.base import PosedHead
from relhead.assets.refs import AssetPool
from relhead.exact import mm
from relhead.frames import camera_centre
from relhead.render.blender import settings
from relhead.render.blender.camera import Camera
from relhead.render.blender.compositor import Compositor, compositor_parts
from relhead.render.blender.garment import GarmentPart
from relhead.render.blender.glasses import GlassesPart
from relhead.render.blender.hair import FacialHairPart, ScalpHairPart
from relhead.render.blender.hat import HatPart
from relhead.render.blender.head import Head
from relhead.render.blender.lights import LightsPart
from relhead.render.blender.nodes import load_image
from relhead.render.blender.world import World
from relhead.render.extra_labels import SEG
from relhead.render.labels import ViewLabels
from relhead.render.parts.surface import join_meshes
from relhead.render.raycull import rays_meet_box, triangles_on_rays
from relhead.render.spec import EffectsSpec, GroupSpec

# The scene parts, made per group in this order.
PARTS = (LightsPart, ScalpHairPart, GlassesPart, HatPart, FacialHairPart, GarmentPart)


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
    the head is rebuilt when the head model changes, and per group only values and the parts'
    objects change."""

    MAX_IMAGES = 4  # images kept loaded (HDRIs, photos, skin textures: each its full image in memory)

    def __init__(self, cfg):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self.camera = Camera(self.scene)
        self.world = World(self.scene)
        self._images: dict[str, object] = {}  # path -> bpy image, least recently used first
        self._backdrop_image = None  # the group's procedural backdrop, when it has one
        settings.apply(self.scene, cfg.render, cfg.image)
        self.compositor = Compositor(self.scene, **compositor_parts(cfg))
        self._head_model = None
        self.head: Head | None = None
        self.parts = [part(self.scene, self.world) for part in PARTS]
        self._casts: dict[bool, tuple] = {}  # the current view's ray-cast surfaces (_cast_surfaces)
        self.scene.cycles_curves.shape = "RIBBONS"  # flat strands facing the camera: sub-pixel here anyway

    # ------------------------------------------------------------------ per corpus
    def prepare(self, cfg, head_model) -> None:
        self.cfg = cfg
        self.W, self.H = cfg.image.width, cfg.image.height
        if head_model is not self._head_model:
            if self.head is not None:
                self.head.remove()
            look = look_parts(cfg)
            self.head = Head(self.scene, head_model, cfg.render.subsurface, cfg.render.skin_shader,
                             skin_detail=look["skin"], eye_detail=look["eyes"])
            self._head_model = head_model

    def _image(self, path: Path):
        key = str(path)
        img = self._images.pop(key, None) or load_image(key)
        self._images[key] = img
        while len(self._images) > self.MAX_IMAGES:
            bpy.data.images.remove(self._images.pop(next(iter(self._images))))
        return img

    # ------------------------------------------------------------------ per group
    def set_group(self, spec: GroupSpec, files: AssetPool, first: PosedHead, geometry: dict | None = None) -> None:
        """The group's materials, world, seed and parts: `files` holds this host's files of the assets
        the spec names, `first` is its first view's posed head, and `geometry` the parts' geometry
        by part name (Part.geometry; a part missing there is left out)."""
        albedo, photo = spec.materials.skin.albedo, spec.lighting.background.image
        self.head.set_group(spec.materials, self._image(files.path(albedo)) if albedo else None)
        if spec.materials.skin.detail is not None:
            self.head.set_areas(first)
        self.world.set_group(spec.lighting, self._image(files.path(spec.lighting.hdri)),
                             getattr(self._head_model, "world_up", (0.0, 0.0, 1.0)))
        settings.set_seed(self.scene, spec.render_seed)
        settings.new_group(self.scene)
        self._casts.clear()
        backdrop = spec.lighting.background.backdrop
        self.compositor.set_photo(self._image(files.path(photo)) if photo else
                                  self._backdrop(backdrop) if backdrop else None)
        for part in self.parts:
            part.set_group(spec, (geometry or {}).get(part.name), first)
        self.head.join([part.object for part in self.parts if part.on_skin and part.object is not None])

    def _backdrop(self, p):
        """The group's procedural backdrop (relhead.render.backdrop) as a loaded image."""
        from PIL import Image

        from relhead.render.backdrop import backdrop_image

        if self._backdrop_image is not None:
            bpy.data.images.remove(self._backdrop_image)
        path = self.compositor.backdrop_file()
        Image.fromarray(backdrop_image(p, self.W, self.H)).save(path, compress_level=0)
        self._backdrop_image = bpy.data.images.load(str(path))
        self._backdrop_image.pack()  # its pixels now, not when the file is next rewritten
        return self._backdrop_image

    # ------------------------------------------------------------------ per view
    def set_view(self, posed: PosedHead, labels: ViewLabels) -> None:
        """Pose the head and the parts, and place the camera where the view's labels put it."""
        self.head.set_view(posed)
        for part in self.parts:
            part.set_view(posed)
        self._T_world_head = posed.T_world_head
        self._casts.clear()
        self.camera.set_view(labels.K, labels.R_w2c, labels.t_w2c, self.W, self.H, self.cfg.camera.sensor_mm)

    def set_effects(self, fx: EffectsSpec | None, focus_m: float) -> None:
        """The view's camera effects; depth of field focuses at `focus_m` along the optical axis."""
        fx = fx or EffectsSpec()
        self.scene.frame_current = fx.noise_seed if fx.sensor_noise else 1
        self.camera.set_effects(fx, focus_m, self.W, self.H)
        self.compositor.set_effects(fx)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """Render the current view: (H, W, 3) uint8 RGB and (H, W) uint8 alpha mask."""
        self.render_still()
        return self.read_back()

    def render_still(self) -> None:
        with _quiet_stdout():
            bpy.ops.render.render(write_still=True)

    def read_back(self) -> tuple[np.ndarray, np.ndarray]:
        return self.compositor.read_back()

    def close(self) -> None:
        self.compositor.close()

    def _cast_surfaces(self, eyes: bool) -> tuple:
        """(BVH, vertices, triangles, part class per triangle, head triangles) of what the current view's
        rays meet: the posed head (its eyeballs only if `eyes`) and the parts' occluders, in the world
        frame; joined once a view. The BVH is built for `eyes` only (surface); visible() builds its own of
        the triangles its rays can meet."""
        if eyes not in self._casts:
            hm = self._head_model
            head = (self.head._vertices, hm.faces) if eyes else self.head.occluder()
            parts, classes = [head], [np.zeros(len(head[1]), np.uint8)]
            for part in self.parts:
                v, f = part.occluder(self._T_world_head)
                if len(f):
                    parts.append((v, f))
                    c = np.full(len(f), PART_CLASSES.get(part.name, SEG["skin"]), np.uint8)
                    lens = getattr(part, "hides_lens", None)  # glasses: tinted lenses apart from the frame
                    if lens is not None and len(lens) == len(f):
                        c[lens] = SEG["lenses"]
                    classes.append(c)
            verts, faces = join_meshes(parts)
            bvh = BVHTree.FromPolygons(verts.tolist(), faces.tolist()) if eyes else None  # visible() culls first
            self._casts[eyes] = (bvh, verts, faces, np.concatenate(classes), len(head[1]))
        return self._casts[eyes]

    def surface(self, K: np.ndarray, R_w2c: np.ndarray, t_w2c: np.ndarray) -> dict[str, np.ndarray]:
        """Ray casts through every pixel's centre against the posed head (eyes included) and the parts'
        surfaces (their occluders): `depth` (H, W) z along the optical axis in metres (0: no surface),
        `normals` (H, W, 3) unit normals in the OpenCV camera frame (the hit triangle's, turned toward
        the camera; 0: none), `points` (H, W, 3) the hits in the camera frame, `head_tri` (H, W) the head
        triangle hit (-1: none or a part) and `part_class` (H, W) uint8 the segmentation class of a part
        hit (0: none or the head). Exact surface values, no pixel filter: one ray per pixel,
        single-threaded, so the same bytes on any host. Rays that miss the surfaces' bounding box are
        not cast (they meet nothing)."""
        bvh, verts, _, cls, n_head = self._cast_surfaces(eyes=True)
        W, H = self.W, self.H
        u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        y = (v - K[1, 2]) / K[1, 1]  # K^-1 (u, v, 1), K upper triangular
        rays_cam = np.stack([(u - K[0, 2] - K[0, 1] * y) / K[0, 0], y, np.ones_like(u)], -1).reshape(-1, 3)
        rays_world = mm(rays_cam, R_w2c)  # R_w2c^T d per row
        centre = camera_centre(R_w2c, t_w2c)
        c = Vector(centre.tolist())
        cast = np.flatnonzero(rays_meet_box(centre, rays_world, verts.min(0), verts.max(0)))
        points = np.zeros((H * W, 3))
        normals = np.zeros((H * W, 3))
        tri = np.full(H * W, -1, np.int64)
        hits, locs, norms, idxs = [], [], [], []
        for i, d in zip(cast.tolist(), rays_world[cast].tolist()):
            loc, n, idx, _ = bvh.ray_cast(c, Vector(d).normalized())
            if loc is not None:
                hits.append(i), locs.extend(loc), norms.extend(n), idxs.append(idx)
        if hits:
            points[hits], normals[hits], tri[hits] = np.reshape(locs, (-1, 3)), np.reshape(norms, (-1, 3)), idxs
        hit = tri >= 0
        points[hit] = mm(points[hit], R_w2c.T) + t_w2c
        normals[hit] = mm(normals[hit], R_w2c.T)
        normals[hit] *= np.where((normals[hit] * points[hit]).sum(1) > 0, -1.0, 1.0)[:, None]
        normals[hit] /= np.linalg.norm(normals[hit], axis=1, keepdims=True)
        part_class = np.where(hit, cls[np.maximum(tri, 0)], 0).astype(np.uint8)
        head_tri = np.where(hit & (tri < n_head), tri, -1)
        return {"depth": points[:, 2].reshape(H, W), "normals": normals.reshape(H, W, 3),
                "points": points.reshape(H, W, 3), "head_tri": head_tri.reshape(H, W),
                "part_class": part_class.reshape(H, W)}

    def visible(self, points: np.ndarray, camera_center: np.ndarray, eps: float = 8e-3) -> np.ndarray:
        """Whether each world point is unoccluded: nothing (the head, or a part's occluder: the garment,
        the scalp and facial hair's proxies of relhead.render.parts.hair.occluder_ribbons, a glasses
        frame or tinted lens, a hat) lies on its ray from the camera centre more than `eps` in front
        of it. Eyelid-rim and inner-lip landmarks sit in creases a few mm behind the surrounding skin;
        a head occluding itself does so by centimetres. Only the triangles whose image from the camera
        centre can cover a point are cast against (relhead.render.raycull): the same nearest hits as all of them."""
        _, verts, faces, _, _ = self._cast_surfaces(eyes=False)
        faces = faces[triangles_on_rays(camera_center, points, verts, faces)]
        used, faces = np.unique(faces, return_inverse=True)  # the same triangles on fewer vertices
        bvh = BVHTree.FromPolygons(verts[used].tolist(), faces.reshape(-1, 3).tolist())
        c = Vector(camera_center.tolist())
        out = np.zeros(len(points), bool)
        for i, p in enumerate(points):
            d = Vector(p.tolist()) - c
            dist = d.length
            hit, _, _, hit_dist = bvh.ray_cast(c, d.normalized(), dist + 1.0)
            out[i] = hit is None or hit_dist >= dist - eps
        return out


# Segmentation class of each scene part's surface (relhead.render.extra_labels.SEG_CLASSES): what of
# it hides landmarks (Part.occluder) is what the ray casts of ProcessScene.surface see.
PART_CLASSES = {"hair": SEG["hair"], "facial": SEG["beard"], "glasses": SEG["glasses"], "hat": SEG["headwear"],
                "garment": SEG["clothing"]}


def look_parts(cfg) -> dict[str, bool]:
    """Which detailed materials a config's head is built with (config skin.detail, eyes.detail)."""
    return {"skin": cfg.skin.detail > 0, "eyes": cfg.eyes.detail > 0}


_SCENE: tuple[str, ProcessScene] | None = None


def process_scene(cfg, head_model) -> ProcessScene:
    """The process' scene, prepared for `cfg` and `head_model`. Other render or image settings get
    a fresh scene: Cycles' persistent data does not reliably take up settings changed between
    renders of an unchanged scene, and the pixels must depend on the config alone."""
    global _SCENE
    key = (cfg.render.model_dump_json(exclude={"threads"}) + cfg.image.model_dump_json() + str(compositor_parts(cfg))
           + str(look_parts(cfg)))
    if _SCENE is None or _SCENE[0] != key:
        if _SCENE is not None:
            _SCENE[1].close()
        _SCENE = (key, ProcessScene(cfg))
    scene = _SCENE[1]
    settings.set_threads(scene.scene, cfg.render.threads)
    scene.prepare(cfg, head_model)
    return scene
