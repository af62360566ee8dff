"""Which scene parts go with MTCNN's misses on renders, and does changing one part alone change them.

    python bench/misses.py RESULT.json [--row NAME]                      # the attribute table
    python bench/misses.py RESULT.json --swap-hdri forest [--only-hdri courtyard,studio] [--out DIR]
    python bench/misses.py --maps                                         # where each bundled HDRI's light comes from

RESULT.json is `bench/realism.py --json`'s file. Its views are joined with their scene specs, sampled
again from the same configuration (sampling is bpy-free and deterministic, so the specs are the ones
rendered; each view's |yaw| is checked against the spec's). Over the views below 60 degrees of |yaw|
the table gives, per attribute value, the views found with their 95% Wilson interval, and a p value
per attribute counted per group (a scene's four views share its lighting, subject and accessories, so
views are not independent): Kruskal-Wallis over the groups' found shares for a categorical attribute,
Mann-Whitney between groups with and without misses for a numeric one split in thirds.

`--swap-hdri NAME` is the causal test: the groups (those lit by `--only-hdri`'s maps, or all) are
rendered again with their HDRI replaced by NAME and nothing else changed (rotation, strength,
background, subject, poses, cameras: the spec is edited after sampling), and MTCNN runs on them;
the table is found before and after by |yaw| bin, and per original HDRI. `--out` keeps the views.
`--maps` describes the light of each bundled HDRI as a head sees it: the mean radiance, the share of the
light energy in the brightest 1% of the sphere (one sun or lamp: near 1), and the irradiance vector's
vertical and horizontal parts (the mean of the light's direction weighted by its energy: 1 would be all
light from straight above): light from above gives a vertical part well over the horizontal one.
Not part of the tests; the tables go into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kruskal, mannwhitneyu

sys.path.insert(0, str(Path(__file__).parent))
from realism import BINS, measure_view, rate_interval, row_config  # noqa: E402

from relhead.assets.registry import get_head_model  # noqa: E402
from relhead.datasets.generate import pools  # noqa: E402


def attributes(spec, i: int, view: dict) -> dict:
    """The attributes of view i of a group spec that the table splits by."""
    m, light, v = spec.materials, spec.lighting, spec.views[i]
    fb = np.asarray(view["face_box"], float)
    return {
        "HDRI": light.hdri.name,
        "background": light.background.type,
        "extra lights": len(light.lights),
        "glasses": spec.glasses.style if spec.glasses else "none",
        "hat": spec.hat.style if spec.hat else "none",
        "scalp hair": m.hair.strands.style if m.hair.strands else "none",
        "facial hair": m.hair.facial.style if m.hair.facial else "none",
        "garment": spec.garment.style if spec.garment else "none",
        "camera effects": "on" if v.effects is not None and v.effects.sensor_noise > 0 else "off",
        "motion blur": "on" if v.effects is not None and v.effects.motion_blur_px > 0 else "off",
        "skin tone": m.skin.tone,
        "abs pitch (deg)": abs(v.euler_deg.pitch),
        "abs roll (deg)": abs(v.euler_deg.roll),
        "face box (px)": float(np.sqrt(max(fb[2] - fb[0], 0) * max(fb[3] - fb[1], 0))),
        "HDRI strength": light.strength,
    }


def joined(result: dict, row: str) -> tuple[list[dict], object, list]:
    """Every view of the row with its group, detection and attributes; the row's config and specs."""
    args, r = result["args"], result["rows"][row]
    cfg = row_config(args, r["sets"])
    hm = get_head_model(cfg.head)
    here = pools(cfg)
    specs = [here.spec(cfg, g, hm) for g in range(args["groups"])]
    out = []
    for k, view in enumerate(r["views"]):
        g, i = divmod(k, args["views"])
        if abs(abs(specs[g].views[i].euler_deg.yaw) - view["abs_yaw"]) > 1e-6:
            raise SystemExit(f"view {k}: |yaw| {view['abs_yaw']:.3f} is not the resampled spec's: not the same "
                             "configuration (pipeline changed since the run?)")
        out.append({"group": g, "view": i, "abs_yaw": view["abs_yaw"], "detected": view["detected"],
                    **attributes(specs[g], i, view)})
    return out, cfg, specs


def _found(views: list[dict]) -> str:
    k, n = sum(v["detected"] for v in views), len(views)
    lo, hi = rate_interval(k, n)
    return f"{100 * k / n:.0f}% ({k}/{n}; {100 * lo:.0f}-{100 * hi:.0f})"


def table(views: list[dict]) -> list[str]:
    """Markdown rows: attribute | value | found below 60 degrees | per-group p."""
    sel = [v for v in views if v["abs_yaw"] < 60]
    lines = [f"All views below 60 degrees of |yaw|: {_found(sel)}", "",
             "| attribute | value | found, below 60 degrees (95%) | p, per group |", "|---|---|---|---|"]
    for name in [k for k in sel[0] if k not in ("group", "view", "abs_yaw", "detected")]:
        values = [v[name] for v in sel]
        numeric = isinstance(values[0], float)
        if numeric and len(set(values)) < 3:  # held fixed in this run (a pose range of [0, 0]): nothing to split
            continue
        if numeric:  # thirds of the views' values
            edges = np.quantile(values, [1 / 3, 2 / 3])
            label = lambda x: ("low", "middle", "high")[int(np.searchsorted(edges, x, side="right"))]  # noqa: E731
            cells = {lab: [v for v in sel if label(v[name]) == lab] for lab in ("low", "middle", "high")}
            groups = {}
            for v in sel:
                groups.setdefault(v["group"], []).append(v)
            missed = [np.mean([v[name] for v in gv]) for gv in groups.values() if not all(v["detected"] for v in gv)]
            found = [np.mean([v[name] for v in gv]) for gv in groups.values() if all(v["detected"] for v in gv)]
            p = mannwhitneyu(missed, found).pvalue if missed and found else float("nan")
            names = {lab: f"{lab} ({min(v[name] for v in c):.3g}-{max(v[name] for v in c):.3g})"
                     for lab, c in cells.items() if c}
        else:
            cells = {val: [v for v in sel if v[name] == val] for val in sorted(set(values), key=str)}
            shares = {}
            for val, c in cells.items():
                per_group = {}
                for v in c:
                    per_group.setdefault(v["group"], []).append(v["detected"])
                shares[val] = [np.mean(d) for d in per_group.values()]
            usable = [s for s in shares.values() if len(s) >= 2]
            p = kruskal(*usable).pvalue if len(usable) >= 2 and len({x for s in usable for x in s}) > 1 else float("nan")
            names = {val: str(val) for val in cells}
        for j, (val, c) in enumerate(cells.items()):
            if c:
                lines.append(f"| {name if j == 0 else ''} | {names[val]} | {_found(c)} | {f'{p:.2g}' if j == 0 else ''} |")
    return lines


def swap(result: dict, row: str, hdri: str, only: list[str] | None, out: Path | None) -> list[str]:
    """Render the row's groups again with their HDRI replaced by `hdri`, nothing else changed; MTCNN on them."""
    from PIL import Image

    from relhead.render.group import render_group
    from relhead.train.detect import MTCNN

    views, cfg, specs = joined(result, row)
    hm = get_head_model(cfg.head)
    here = pools(cfg)
    pool, files = here.hdris, here.files
    wanted = [r for r in pool.refs if r.name in (hdri, f"{hdri}.exr", f"{hdri}.hdr")]
    if not wanted:
        raise SystemExit(f"--swap-hdri {hdri}: not in the pool ({', '.join(r.name for r in pool.refs)})")
    detector = MTCNN()
    chosen = [g for g, s in enumerate(specs) if not only or Path(s.lighting.hdri.name).stem in only]
    before, after = [], []
    for g in chosen:
        spec = specs[g]
        spec = spec.model_copy(update={"lighting": spec.lighting.model_copy(update={"hdri": wanted[0]})})
        rendered = render_group(cfg, spec, hm, files)
        for i, rv in enumerate(rendered.views):
            lab = rv.labels
            m = measure_view(detector, rv.rgb, {"face_box": lab.face_box.tolist(), "landmarks": lab.landmarks,
                                                "euler_deg": spec.views[i].euler_deg.model_dump()})
            v = next(v for v in views if v["group"] == g and v["view"] == i)
            before.append(v)
            after.append(v | {"detected": m["detected"]})
            if out:
                out.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rv.rgb).save(out / f"g{g:03d}v{i}.png")
        print(f"group {g} ({specs[g].lighting.hdri.name} -> {wanted[0].name}): "
              + " ".join("+" if a["detected"] else "-" for a in after[-len(rendered.views):]), flush=True)
    lines = [f"| views | HDRI as sampled | -> {wanted[0].name} | lost | gained |", "|---|---|---|---|---|"]
    for lo, hi in BINS:
        idx = [k for k, v in enumerate(before) if lo <= v["abs_yaw"] < hi]
        if idx:
            b, a = [before[k] for k in idx], [after[k] for k in idx]
            lost = sum(x["detected"] and not y["detected"] for x, y in zip(b, a))
            gained = sum(y["detected"] and not x["detected"] for x, y in zip(b, a))
            lines.append(f"| \\|yaw\\| {lo}-{int(hi)} | {_found(b)} | {_found(a)} | {lost} | {gained} |")
    for name in sorted({v["HDRI"] for v in before}):
        idx = [k for k, v in enumerate(before) if v["HDRI"] == name and v["abs_yaw"] < 60]
        if idx:
            lines.append(f"| {name}, below 60 | {_found([before[k] for k in idx])} | {_found([after[k] for k in idx])} | | |")
    return lines


def map_light(path: Path) -> dict:
    """Where an equirectangular map's light comes from (bpy reads the file; rows run bottom to top)."""
    import bpy

    img = bpy.data.images.load(str(path))
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    lum = px.reshape(h, w, 4)[..., :3].astype(float) @ [0.2126, 0.7152, 0.0722]
    el = ((np.arange(h) + 0.5) / h - 0.5) * np.pi
    az = ((np.arange(w) + 0.5) / w - 0.5) * 2 * np.pi
    solid = np.repeat(np.cos(el)[:, None], w, 1)  # solid angle per pixel, up to a constant
    energy = lum * solid
    mean = energy.sum() / solid.sum()
    flat = np.sort(energy.ravel())[::-1]
    vec = np.array([(energy * np.cos(el)[:, None] * np.cos(az)).sum(), (energy * np.cos(el)[:, None] * np.sin(az)).sum(),
                    (energy * np.sin(el)[:, None]).sum()]) / energy.sum()
    return {"mean radiance": mean, "brightest 1%": flat[: len(flat) // 100].sum() / flat.sum(),
            "vertical": vec[2], "horizontal": float(np.hypot(vec[0], vec[1]))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("result", nargs="?", help="bench/realism.py --json's file")
    ap.add_argument("--row", default=None, help="the row (default: the file's first)")
    ap.add_argument("--swap-hdri", default=None, help="render the groups again under this HDRI, nothing else changed")
    ap.add_argument("--only-hdri", default=None, help="with --swap-hdri: only the groups lit by these maps (comma list)")
    ap.add_argument("--out", default=None, help="with --swap-hdri: keep the views here")
    ap.add_argument("--maps", action="store_true", help="instead: where each bundled HDRI's light comes from")
    a = ap.parse_args()
    if a.maps:
        from relhead.assets.hdri import bundled_hdri_dir

        print("| HDRI | mean radiance | energy in the brightest 1% | irradiance: vertical | horizontal |\n|---|---|---|---|---|")
        for p in sorted(bundled_hdri_dir().glob("*.exr")):
            m = map_light(p)
            print(f"| {p.name} | {m['mean radiance']:.3f} | {m['brightest 1%']:.2f} | {m['vertical']:+.2f} | {m['horizontal']:.2f} |")
        return
    if not a.result:
        ap.error("give RESULT.json (or --maps)")
    result = json.loads(Path(a.result).read_text())
    row = a.row or next(iter(result["rows"]))
    if row not in result["rows"]:
        raise SystemExit(f"--row {row!r}: the file has {', '.join(result['rows'])}")
    print(f"{a.result}, row {row!r}:")
    if a.swap_hdri:
        only = a.only_hdri.split(",") if a.only_hdri else None
        lines = swap(result, row, a.swap_hdri, only, Path(a.out) if a.out else None)
    else:
        lines = table(joined(result, row)[0])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
