"""Render speed and image quality of relhead's presets against the published recipe, side by side in
one run on the same sampled scenes, and where the time of a group and of a view goes.

    python bench/render.py [--groups 3] [--views 2] [--size 256] [--ref-samples 1024]
    python bench/render.py --interleave "recipe (as published)" recipe default fast [--reps 4]   # side by side
    python bench/render.py --interleave default default+render.samples=6 [...]          # a candidate cut
    python bench/render.py --interleave default default+heap=scanned                    # before gc.freeze
    python bench/render.py --interleave default+render.session=group default+render.session=group+keepers=none
    python bench/render.py --pipeline realistic --size 160 --views 5 --interleave default default+casts=all   # the labels' casts
    python bench/render.py --pipeline realistic --size 160 --views 5 --stages --interleave default default+kdtree=threads

Scenes: the `paper` pipeline's distribution (or --pipeline's; Filmic, HDRI background) at --size px. Each row makes
a one-shard corpus with the real pipeline (relhead.datasets.generate: sample, pose, render, label,
encode and write, the last two overlapped with the next render) after a warm-up group; speed is
seconds per view from the shard record, the ratio is views per second against the recipe as
published. Quality: PSNR (whole image, and subject pixels only) and SSIM of the shard's images
against a --ref-samples + denoise render of the same views (automatic world map, accurate
denoising prefilter; cached under ~/.cache/relhead-bench). Rows:
- `recipe (as published)`: the recipe's sampling (64 samples, adaptive 0.01, no denoising) with
  the pipeline as relhead had it before its scene was reused: a fresh scene per group (factory
  reset and rebuild), no persistent data, Blender's automatic world importance map;
- `recipe`: the same sampling in relhead's reused scene (`render.preset=recipe`);
- every other preset (`render.preset=NAME`);
and the fixed cost per view (64 px, 1 sample, no denoising) as relhead 0.1 had it and now.
Not part of the tests; results go into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from relhead.assets.hdri import hdri_pool
from relhead.assets.registry import get_head_model
from relhead.config import RENDER_PRESETS, resolve
from relhead.datasets.generate import generate
from relhead.datasets.sample import pack
from relhead.datasets.shards import iter_groups
from relhead.render.group import render_group
from relhead.render.sampling import sample_group

CACHE = Path.home() / ".cache" / "relhead-bench"


class Clock:
    """Seconds per named stage, summed."""

    def __init__(self):
        self.seconds = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = (a.astype(float) - b.astype(float)) ** 2
    mse = d[mask].mean() if mask is not None else d.mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) over RGB channels, over
    the pixels of `mask` when given; written out with scipy rather than adding scikit-image for one bench
    metric."""
    a, b = a.astype(float), b.astype(float)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = gaussian_filter(x, 1.5), gaussian_filter(y, 1.5)
        sxx = gaussian_filter(x * x, 1.5) - mx * mx
        syy = gaussian_filter(y * y, 1.5) - my * my
        sxy = gaussian_filter(x * y, 1.5) - mx * my
        m = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        out.append(m[mask].mean() if mask is not None else m.mean())
    return float(np.mean(out))


@contextmanager
def heap_scanned():
    """Render as relhead did before it froze the process' heap after the first group (relhead.render.
    group.settle_heap): every full garbage collection walks bpy's, torch's and the scene's objects."""
    import gc

    from relhead.render import group

    original = group.settle_heap
    group.settle_heap = lambda: None
    gc.unfreeze()
    try:
        yield
    finally:
        group.settle_heap = original


@contextmanager
def without_keepers():
    """Render as before the rigid parts' keepers (relhead.render.blender.part.RigidPart): every rigid
    part's data with one user, its BVH rebuilt whenever it turns."""
    from relhead.render.blender.part import RigidPart

    RigidPart.moves_points = True
    try:
        yield
    finally:
        RigidPart.moves_points = False


@contextmanager
def as_published():
    """Make the pipeline work as relhead 0.1 did (the recipe's baseline): a fresh scene for every
    group (factory reset and rebuild), no persistent data, Blender's automatic world importance map."""
    import bpy

    from relhead.render.blender import scene as sc

    original = sc.process_scene

    def fresh(cfg, head_model):
        if sc._SCENE is not None:
            sc._SCENE[1].close()
            sc._SCENE = None
        scene = original(cfg, head_model)
        bpy.context.scene.render.use_persistent_data = False
        bpy.context.scene.world.cycles.sampling_method = "AUTOMATIC"
        return scene

    sc.process_scene = fresh
    try:
        yield
    finally:
        sc.process_scene = original
        if sc._SCENE is not None:
            sc._SCENE[1].close()
            sc._SCENE = None


def warm_up(cfg, hm, pool) -> None:
    """Render one group outside the measured range: the scene, kernels and first HDRIs load here."""
    render_group(cfg, sample_group(cfg, 1000, hm, pool.refs), hm, pool)


def corpus(cfg, out: Path, hm, pool, mode=nullcontext, warm: bool = True):
    """Make the corpus of `cfg` with the real pipeline (relhead.datasets.generate: render, encode and
    write overlapped) after a warm-up; returns ([rgb], [mask], seconds per view from the shard records)."""
    with mode():
        if warm:
            warm_up(cfg, hm, pool)
        generate(cfg, out, log=lambda *_: None)
    records = [json.loads(p.read_text()) for p in sorted(out.glob("shard-*.json"))]
    seconds = sum(r["stats"]["seconds"] for r in records) / sum(r["entry"]["views"] for r in records)
    groups = list(iter_groups(sorted(out.glob("shard-*.tar"))))
    return ([g.image(i) for g in groups for i in range(len(g.views))],
            [g.mask(i) for g in groups for i in range(len(g.views))], seconds)


def stages(cfg, groups: range, hm, pool, mode=nullcontext) -> tuple[Clock, float]:
    """Seconds per stage of rendering and packing `groups` (after a warm-up), serially."""
    clock = Clock()
    with mode():
        warm_up(cfg, hm, pool)
        t = time.perf_counter()
        for g in groups:
            rendered = render_group(cfg, sample_group(cfg, g, hm, pool.refs), hm, pool, clock=clock)
            with clock("image encoding (PNG; overlapped in the pipeline)"):
                pack(rendered, cfg)
    return clock, time.perf_counter() - t


def references(scenes, n_groups: int, samples: int, hm, pool, tmp: Path):
    cfg = scenes(f"groups_per_shard={n_groups}", f"render.samples={samples}", "render.adaptive_threshold=0",
                 "render.denoise=true", "render.denoiser_prefilter=accurate", "render.env_map_resolution=0")
    path = CACHE / f"ref-{cfg.hash()}.npz"
    if path.exists():
        d = np.load(path)
        return list(d["rgb"]), list(d["mask"])
    print(f"rendering references ({samples} samples + denoise; cached in {path}) ...", flush=True)
    rgbs, masks, _ = corpus(cfg, tmp / "reference", hm, pool, warm=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, rgb=np.stack(rgbs), mask=np.stack(masks))
    return rgbs, masks


def cycles_breakdown(scenes, groups: range, hm, pool) -> dict:
    """Split the default preset's Cycles render of a view into fixed cost, path tracing, denoising
    and compositing: the same views rendered with parts switched off, each in its own fresh scene
    (differences of steady-state seconds per view)."""
    import bpy

    from relhead.render.blender.scene import process_scene
    from relhead.render.group import posed_heads
    from relhead.render.labels import label_view

    def per_view(sets, compositing=True):
        cfg = scenes("render.preset=default", *sets)
        warm_up(cfg, hm, pool)
        scene = process_scene(cfg, hm)
        bpy.context.scene.render.use_compositing = compositing
        seconds, n = 0.0, 0
        for g in groups:
            spec = sample_group(cfg, g, hm, pool.refs)
            posed = posed_heads(spec, hm)
            scene.set_group(spec, pool, posed[0])  # no geometry: the head alone, without the parts
            width = hm.head_width(spec.head.identity)
            for v, p in zip(spec.views, posed):
                lab = label_view(v, p, width, cfg.image.width, cfg.image.height)
                scene.set_view(p, lab)
                t = time.perf_counter()
                scene.render_still()
                seconds, n = seconds + time.perf_counter() - t, n + 1
        bpy.context.scene.render.use_compositing = True
        return seconds / n

    full, plain = per_view([]), per_view([], compositing=False)
    no_denoise, one = per_view(["render.denoise=false"]), per_view(["render.denoise=false", "render.samples=1"])
    return {"fixed: scene sync, 1 sample, film, file write": one - (full - plain),
            "path tracing (all samples but one)": no_denoise - one,
            "denoising (OpenImageDenoise)": full - no_denoise,
            "compositing (background over, mask output)": full - plain}


# --interleave labels' switches that are not config keys: the context each renders in
@contextmanager
def every_cast():
    """Cast the labels' rays as before relhead.render.raycull: every pixel's ray in `surface`, and every
    occluder triangle in a BVH of `visible`'s own (the same hits, at the old cost)."""
    from relhead.render.blender import scene

    kept = scene.rays_meet_box, scene.triangles_on_rays
    scene.rays_meet_box = lambda origin, dirs, lo, hi: np.ones(len(dirs), bool)
    scene.triangles_on_rays = lambda centre, points, verts, faces: np.ones(len(faces), bool)
    try:
        yield
    finally:
        scene.rays_meet_box, scene.triangles_on_rays = kept


@contextmanager
def kdtree_threads():
    """The parts' nearest-skin-vertex queries (relhead.render.parts.surface.Skin.depth) on every core
    whatever their size, as before small ones ran on one thread (the same nearest vertices)."""
    from relhead.render.parts.surface import Skin

    kept = Skin.depth

    def depth(self, p):
        _, i = self.tree.query(p, workers=-1)
        return ((p - self.points[i]) * self.normals[i]).sum(1), i

    Skin.depth = depth
    try:
        yield
    finally:
        Skin.depth = kept


@contextmanager
def image_files():
    """Let Cycles read the texture images from their files, as before relhead.render.blender.nodes.load_image
    packed them and kept them decoded: every fresh session decodes each file again."""
    import bpy

    from relhead.render.blender import mpfb_nodes, scene, settings

    def plain(path, check_existing=False):
        return bpy.data.images.load(str(path), check_existing=check_existing)

    def files():
        for img in bpy.data.images:
            if img.packed_file is not None and img.filepath and Path(bpy.path.abspath(img.filepath)).is_file() \
                    and not img.name.startswith("backdrop"):
                img.unpack(method="REMOVE")
                img.reload()

    kept = scene.load_image, mpfb_nodes.load_image, settings.new_group
    scene.load_image = mpfb_nodes.load_image = plain
    settings.new_group = lambda s: (kept[2](s), files())
    try:
        yield
    finally:
        scene.load_image, mpfb_nodes.load_image, settings.new_group = kept
        for img in bpy.data.images:  # as load_image leaves them
            if img.packed_file is None and img.source == "FILE" and Path(bpy.path.abspath(img.filepath)).is_file():
                img.pack()
                img.update()


SWITCHES = {"heap=scanned": heap_scanned, "keepers=none": without_keepers, "casts=all": every_cast,
            "kdtree=threads": kdtree_threads, "images=files": image_files}


def setting(scenes, label: str):
    """The config of an --interleave setting and the context it renders in (as_published for the
    recipe as published, and those of SWITCHES it names): a preset name, 'recipe (as published)', or a
    preset followed by overrides, 'default+render.samples=6+render.subsurface=burley+keepers=none'."""
    legacy = label == "recipe (as published)"
    preset, *sets = ("recipe",) if legacy else label.split("+")
    if preset not in RENDER_PRESETS:
        raise SystemExit(f"--interleave {label!r}: {preset!r} is not a preset ({', '.join(RENDER_PRESETS)})")
    modes = [as_published] if legacy else [SWITCHES[x] for x in sets if x in SWITCHES]

    @contextmanager
    def mode():
        with ExitStack() as stack:
            for m in modes:
                stack.enter_context(m())
            yield

    sets = [x for x in sets if x not in SWITCHES]
    return scenes(f"render.preset={preset}", *sets), mode


def interleaved(scenes, settings: list[str], n_groups: int, reps: int, hm, pool, ref_rgb, subject,
                by_stage: bool = False) -> None:
    """Settings compared side by side: blocks of the same `n_groups` groups, one block per setting in
    ABBA order (the order reversed every repeat), each block after an untimed warm-up group of its own
    setting (the scene of a setting is built there, as a corpus builds it once). Prints per setting the
    median seconds per view over blocks, and per setting the median and range of its paired ratio
    against the first setting (blocks of the same repeat), with PSNR and SSIM, whole image and subject
    (the reference's mask), of its first repeat's images. `by_stage`: also each stage's median seconds
    per view (render_group's clock; the PNG encoding of a corpus is not in these blocks)."""
    seconds: dict[str, list[float]] = defaultdict(list)
    stage_seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    images: dict[str, list[np.ndarray]] = {}
    for r in range(reps):
        for label in (settings if r % 2 == 0 else settings[::-1]):
            cfg, mode = setting(scenes, label)
            with mode():
                warm_up(cfg, hm, pool)
                rgbs, t, views, clock = [], time.perf_counter(), 0, Clock()
                for g in range(n_groups):
                    out = render_group(cfg, sample_group(cfg, g, hm, pool.refs), hm, pool, clock=clock)
                    rgbs += [v.rgb for v in out.views]
                    views += len(out.views)
                seconds[label].append((time.perf_counter() - t) / views)
                for stage, s in clock.seconds.items():
                    stage_seconds[stage, label].append(s / views)
            images.setdefault(label, rgbs)
            print(f"  repeat {r} {label}: {seconds[label][-1]:.3f} s/view", flush=True)
    first = settings[0]
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end; {reps} repeats of {n_groups} groups, ABBA")
    print(f"| setting | s/view (median) | speed vs {first}: median (min-max) | PSNR dB | subject PSNR | SSIM | subject SSIM |")
    print("|---|---|---|---|---|---|---|")
    for label in settings:
        ratios = [a / b for a, b in zip(seconds[first], seconds[label])]
        q = [(psnr(x, y), psnr(x, y, m), ssim(x, y), ssim(x, y, m)) for x, y, m in zip(images[label], ref_rgb, subject)]
        q = np.mean(q, axis=0)
        print(f"| {label} | {np.median(seconds[label]):.3f} | {np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) "
              f"| {q[0]:.2f} | {q[1]:.2f} | {q[2]:.4f} | {q[3]:.4f} |")
    if by_stage:
        def cell(v):
            return f"{np.median(v):.4f} ({min(v):.4f}-{max(v):.4f})" if v else "-"

        print(f"\nseconds per view by stage, median over the {reps} blocks (min-max):")
        print("| stage | " + " | ".join(settings) + " |")
        print("|---|" + "---|" * len(settings))
        for stage in sorted({st for st, _ in stage_seconds}, key=lambda st: -np.median(stage_seconds.get((st, first)) or [0])):
            print(f"| {stage} | " + " | ".join(cell(stage_seconds.get((stage, x))) for x in settings) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", default="paper", help="the pipeline whose scenes are rendered (default paper)")
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ref-samples", type=int, default=1024)
    ap.add_argument("--presets", nargs="*", default=None, help="presets to compare (default: all)")
    ap.add_argument("--set", action="append", default=[], help="extra override for every row (key=value)")
    ap.add_argument("--interleave", nargs="+", default=None, metavar="SETTING",
                    help="compare these side by side instead (preset names, 'recipe (as published)', or a preset "
                         "with overrides: 'default+render.samples=6+render.denoiser_quality=balanced'), "
                         "in ABBA blocks; the first is the ratios' reference")
    ap.add_argument("--reps", type=int, default=4, help="with --interleave: repeats (blocks per setting)")
    ap.add_argument("--stages", action="store_true", help="with --interleave: also each stage's seconds per view")
    a = ap.parse_args()
    base = [f"views={a.views}", f"image.width={a.size}", f"image.height={a.size}", "lighting.background=hdri",
            "render.view_transform=Filmic", "shards=1", f"groups_per_shard={a.groups}", *a.set]

    def scenes(*sets: str):
        """The config of the compared scenes (--pipeline's, at the bench's size) with `sets` on top."""
        return resolve(a.pipeline, base + list(sets))

    hm = get_head_model()
    cfg0 = scenes()
    pool = hdri_pool(cfg0.lighting.hdris, cfg0.lighting.hdri_dir)
    tmp = Path(tempfile.mkdtemp(prefix="relhead-bench-"))
    ref_rgb, ref_mask = references(scenes, a.groups, a.ref_samples, hm, pool, tmp)
    subject = [m >= 128 for m in ref_mask]
    if a.interleave:
        interleaved(scenes, a.interleave, a.groups, a.reps, hm, pool, ref_rgb, subject, a.stages)
        shutil.rmtree(tmp)
        return
    results = {}
    for label in ["recipe (as published)", *(a.presets or RENDER_PRESETS)]:
        cfg, mode = setting(scenes, label)
        rgbs, _, spv = corpus(cfg, tmp / label.replace(" ", "_"), hm, pool, mode)
        results[label] = {"s/view": spv,
                          "psnr": float(np.mean([psnr(x, y) for x, y in zip(rgbs, ref_rgb)])),
                          "psnr_subject": float(np.mean([psnr(x, y, s) for x, y, s in zip(rgbs, ref_rgb, subject)])),
                          "ssim": float(np.mean([ssim(x, y) for x, y in zip(rgbs, ref_rgb)]))}
        print(f"  {label}: {spv:.3f} s/view", flush=True)
    ref = results["recipe (as published)"]["s/view"]
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, {a.pipeline} scenes at {a.size} px "
          f"(Filmic, HDRI background), {a.groups} groups x {a.views} views, reference {a.ref_samples} samples + denoise")
    print(f"{'setting':24s} {'s/view':>7s} {'views/s':>8s} {'speed':>7s} {'PSNR dB':>8s} {'subject':>8s} {'SSIM':>7s}")
    for label, r in results.items():
        print(f"{label:24s} {r['s/view']:7.3f} {1 / r['s/view']:8.2f} {ref / r['s/view']:6.1f}x "
              f"{r['psnr']:8.2f} {r['psnr_subject']:8.2f} {r['ssim']:7.4f}")
    groups = range(a.groups)
    for label in ("recipe (as published)", "default"):
        cfg, mode = setting(scenes, label)
        clock, total = stages(cfg, groups, hm, pool, mode)
        print(f"\nwhere the time goes, {label} ({total / a.groups:.2f} s per group of {a.views} views, serial):")
        for stage, s in sorted(clock.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:50s} {s / a.groups:7.3f} s/group {100 * s / total:5.1f}%")
    print("\ninside the default preset's Cycles render of a view (differences of steady-state renders):")
    for stage, s in cycles_breakdown(scenes, groups, hm, pool).items():
        print(f"  {stage:50s} {s:7.3f} s/view")
    tiny = scenes("image.width=64", "image.height=64", "render.preset=default", "render.samples=1", "render.denoise=false")
    print("\nfixed cost per view (64 px, 1 sample, no denoising):")
    fixed = {}
    for label, mode in (("as relhead 0.1 did", as_published), ("now", nullcontext)):
        _, _, fixed[label] = corpus(tiny, tmp / f"tiny_{mode.__name__}", hm, pool, mode)
        print(f"  {label:20s} {fixed[label]:7.3f} s/view")
    print(f"  ratio {fixed['as relhead 0.1 did'] / fixed['now']:.1f}x")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
