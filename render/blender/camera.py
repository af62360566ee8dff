"""The camera in Blender: placed per view from the OpenCV intrinsics and extrinsics (relhead.frames
converts), with the view's depth of field and camera-shake motion blur."""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix

from relhead.frames import blender_camera_from_opencv, blender_lens_from_K
from relhead.render.spec import EffectsSpec


class Camera:
    def __init__(self, scene) -> None:
        self.scene = scene
        cam = bpy.data.cameras.new("camera")
        cam.clip_start, cam.clip_end = 0.01, 100.0
        ob = bpy.data.objects.new("camera", cam)
        scene.collection.objects.link(ob)
        scene.camera = ob
        self.object = ob

    def set_view(self, K: np.ndarray, R_w2c: np.ndarray, t_w2c: np.ndarray, W: int, H: int, sensor_mm: float) -> None:
        """Lens and pose of the OpenCV camera (K, world -> camera) for a W x H image."""
        for k, v in blender_lens_from_K(K, W, H, sensor_mm=sensor_mm).items():
            setattr(self.object.data, k, v)
        self.object.matrix_world = Matrix(blender_camera_from_opencv(R_w2c, t_w2c).tolist())

    def set_effects(self, fx: EffectsSpec, focus_m: float, W: int, H: int) -> None:
        """The view's motion blur and depth of field (focused at `focus_m` along the optical axis)."""
        self._shake(fx, W, H)
        dof = self.object.data.dof
        dof.use_dof = fx.f_number > 0
        if dof.use_dof:
            dof.aperture_fstop, dof.focus_distance = fx.f_number, focus_m

    def _shake(self, fx: EffectsSpec, W: int, H: int) -> None:
        """No camera animation left from another view; motion blur on for this one if it has it."""
        self.object.animation_data_clear()
        self.scene.render.use_motion_blur = fx.motion_blur_px > 0
        if fx.motion_blur_px > 0:  # keys around the frame this view renders
            self._shake_keys(fx, W, H)

    def _shake_keys(self, fx: EffectsSpec, W: int, H: int) -> None:
        """Camera shake over one frame's exposure, centred on the frame: the camera turns about its own
        centre so that the image moves `motion_blur_px` along `motion_blur_deg`, from -1/2 to +1/2."""
        cam = self.object
        f_px = cam.data.lens / cam.data.sensor_width * max(W, H)
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
