"""Render one group from its spec: pose the head per view, build the scene parts' geometry, render,
and label every view.

Returns arrays and labels (relhead.render.labels.RenderedGroup); packing them into a shard sample is
the job of relhead.datasets.sample, the one owner of the sample format.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from relhead.assets.base import PosedHead, fixed_threads
from relhead.assets.refs import AssetPool
from relhead.exact import mm
from relhead.frames import camera_centre
from relhead.render.extra_labels import PROXY_CLASSES, ExtraLabeler, HeadSegmenter
from relhead.render.labels import RenderedGroup, RenderedView, label_views
from relhead.render.photo import develop
from relhead.render.spec import GroupSpec
from relhead.render.views import neck_rotation


def posed_heads(spec: GroupSpec, head_model) -> list[PosedHead]:
    views = spec.views
    return head_model.pose(spec.head.identity, [v.expression for v in views], [v.gaze_deg for v in views],
                           [neck_rotation(v) for v in views])


@contextmanager
def _no_clock(stage: str):
    yield


def render_group(cfg, spec: GroupSpec, head_model, files: AssetPool, clock=_no_clock) -> RenderedGroup:
    """Render the views of `spec` (its HDRI, background and texture files from this host's pool
    `files`) and label them.
    `clock(stage)` is a context manager that times each stage (bench/render.py passes one)."""
    from relhead.render.blender.scene import PARTS, process_scene  # bpy only here

    W, H = cfg.image.width, cfg.image.height
    # Everything but Cycles computes on a fixed thread count (assets.base.fixed_threads): the same
    # bits from one process, workers or a cluster.
    with clock("head model"), fixed_threads():
        head_width = head_model.head_width(spec.head.identity)
        posed = posed_heads(spec, head_model)
    with clock("scene parts' geometry (hair, garment, glasses, hat)"), fixed_threads():
        geometry = {part.name: part.geometry(spec, head_model, posed[0]) for part in PARTS}
    with clock("scene update (group)"):
        scene = process_scene(cfg, head_model)
        scene.set_group(spec, files, posed[0], geometry)
    with clock("scene update (view), labels"), fixed_threads():
        labelled = label_views(spec, posed, head_width, W, H)
    want = cfg.labels
    with fixed_threads():
        extra = ExtraLabeler(head_model, want) if want.any() else None
    out = []
    for v, p, labels in zip(spec.views, posed, labelled):
        with clock("scene update (view), labels"):
            scene.set_view(p, labels)
            scene.set_effects(v.effects, focus_m=float(labels.t[2]))
        with clock("cycles render"):
            scene.render_still()
        with clock("read back rgb and mask"):
            rgb, mask = scene.read_back()
        if v.photo is not None:  # the camera model (config effects.photo_fraction): after the render, before storing
            with clock("camera model"), fixed_threads():
                rgb = develop(rgb, v.photo)
        with clock("landmark visibility"):
            centre = camera_centre(labels.R_w2c, labels.t_w2c)
            visible = scene.visible(p.landmarks, centre) & labels.landmarks_visible
        more = {}
        if extra is not None:
            with clock("extra labels"), fixed_threads():
                more = _extra_labels(scene, extra, p, labels, mask, centre)
        out.append(RenderedView(rgb=rgb, mask=mask, labels=replace(labels, landmarks_visible=visible), extra=more))
    settle_heap()
    return RenderedGroup(spec=spec, head_width_m=head_width, views=out,
                         mesh_faces=head_model.faces if want.mesh else None,
                         dense_indices=extra.dense if extra is not None else None)


def settle_heap() -> None:
    """Once per process, after its first group: tell Python's cyclic garbage collector that what exists
    now (bpy, torch, scipy, the scene: some 400,000 objects) lives for good (gc.freeze). Its full
    collections, which the renderer's many short-lived lists trigger several times a group, otherwise
    walk all of them at about 0.3 s each. Objects made later are collected as before; nothing a render
    computes depends on when garbage is collected."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _extra_labels(scene, extra: ExtraLabeler, p: PosedHead, labels, mask: np.ndarray, centre: np.ndarray) -> dict:
    """The `labels:` switches' arrays of one rendered view (relhead.render.extra_labels): 3D and dense
    landmarks and gaze from the posed head, depth, normals and face-part classes from one ray per
    pixel centre through the process' scene."""
    want = extra.cfg
    H, W = mask.shape
    more = extra.view(p, labels.K, labels.R, labels.t)
    if extra.dense is not None:
        uv = more["dense_uv"]
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        more["dense_visible"] = scene.visible(p.vertices[extra.dense].astype(float), centre) & inside
    if want.depth or want.normals or want.segmentation:
        s = scene.surface(labels.K, labels.R_w2c, labels.t_w2c)
        # strand and facial hair are cast as ribbon proxies of some strands, a little fuller than
        # the strands Cycles draws: where the render saw nothing there, there is nothing
        gone = np.isin(s["part_class"], PROXY_CLASSES) & (mask == 0)
        s["depth"][gone], s["normals"][gone], s["part_class"][gone] = 0.0, 0.0, 0
        if want.depth:
            more["depth"] = s["depth"]
        if want.normals:
            more["normals"] = s["normals"]
        if want.segmentation:
            seg, on_head = s["part_class"].copy(), s["head_tri"] >= 0
            P_head = mm(s["points"][on_head] - labels.t, labels.R)  # camera -> head frame
            seg[on_head] = HeadSegmenter(extra.hm, p).classes(s["head_tri"][on_head], P_head)
            more["segmentation"] = seg
    return more
