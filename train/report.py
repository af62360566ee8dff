"""`relhead report RUN`: one self-contained HTML page of a training run (every image an inline base64
PNG; nothing external, no script), from what the run folder holds:

- every RUN/eval*.json, and every evaluation file given with `--eval FILE` (written elsewhere):
  `relhead eval`'s (eval.json, and others it wrote with `--out`, such as eval_realistic.json) as tables of the model beside the no-rotation baseline on the same pairs;
  `relhead eval --biwi`'s (eval_biwi.json); and the `clips` section of any of them (temporal clips)
  as one row per anchor policy;
- RUN/real.json when present: bench/real.py's roll test on real photos beside held-out renders;
- learning curves from RUN/metrics.jsonl (training loss; held-out error per evaluation, and the
  no-rotation baseline's);
- each evaluated pair's rotation error against the pair's angle and against the query's angle;
- the worst pairs of eval.json: anchor and query as the model saw them (relhead.train.data.eval_crop,
  read back from the corpora the evaluation ran on), the head axes drawn with
  relhead.datasets.preview.draw_axes: the truth solid, the prediction (R_rel_pred R_a with the
  anchor's true R_a, the query's true t) dashed.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from relhead.configbase import ConfigError

TILE = 224  # about the pixels of a gallery image: the model's crop enlarged by a whole factor (or shrunk)


# ------------------------------------------------------------------------------------------ reading
def _kind(path: Path) -> tuple[str, dict]:
    """(kind, JSON) of an evaluation file: 'synthetic' (`relhead eval`), 'biwi' (`relhead eval --biwi`)
    or 'clips' (clips alone)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable as JSON ({type(exc).__name__}: {exc})") from None
    keys = set(doc) if isinstance(doc, dict) else set()
    for kind, needs in (("synthetic", {"relative", "query", "identity", "per_pair"}),
                        ("biwi", {"detected", "all", "detected_by_true_yaw", "per_sequence", "detection_rate"}),
                        ("clips", {"clips"})):
        if needs <= keys:
            return kind, doc
    raise ConfigError(f"{path}: not an evaluation (neither `relhead eval`'s sections relative, query, identity "
                      f"and per_pair, nor `relhead eval --biwi`'s, nor clips)")


def read_run(run: Path, more: list[str | Path] = ()) -> dict:
    """The run's config, evaluations (name -> (kind, JSON): the run's eval*.json by file name, eval.json
    first, then the files `more` by the path given) and metrics records; a ConfigError naming the file
    when the folder is no run, an evaluation file is missing or not one, or a file holds bad JSON. A run
    without any evaluation (right after training) has none."""
    from relhead.configbase import validate
    from relhead.train.config import TrainConfig
    from relhead.train.runs import read_run_config

    if not run.is_dir():
        raise ConfigError(f"{run}: no such run folder")
    raw, data = read_run_config(run)
    cfg = validate(TrainConfig, raw)
    files = sorted(run.glob("eval*.json"), key=lambda p: (p.name != "eval.json", p.name))
    evals = {p.name: _kind(p) for p in files}
    seen = {p.resolve() for p in files}
    for p in map(Path, more):
        if not p.is_file():
            raise ConfigError(f"--eval {p}: no such file")
        if p.resolve() not in seen:  # given twice, or one of the run's own: shown once
            seen.add(p.resolve())
            evals[str(p)] = _kind(p)
    metrics, path = [], run / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for n, line in enumerate(lines, 1):
        try:
            metrics.append(json.loads(line))
        except ValueError:
            if n < len(lines):  # only the last line may be cut short (a killed run)
                raise ConfigError(f"{path}: line {n} is not JSON") from None
    real = run / "real.json"  # bench/real.py's measure, when it has been run
    real = json.loads(real.read_text(encoding="utf-8")) if real.is_file() else None
    return {"cfg": cfg, "data": data, "evals": evals, "metrics": [m for m in metrics if isinstance(m, dict)],
            "real": real}


# ------------------------------------------------------------------------------------------ figures
def _png(obj) -> str:
    """A matplotlib Figure or PIL image as base64 PNG."""
    buf = io.BytesIO()
    obj.savefig(buf, format="png", dpi=100) if hasattr(obj, "savefig") else obj.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">'


def curves(metrics: list[dict]) -> str | None:
    """The run's learning curve (relhead.train.runs.curve_figure, what its curve.png shows) as base64 PNG."""
    from relhead.train.runs import curve_figure

    fig = curve_figure(metrics)
    return None if fig is None else _png(fig)


def error_vs_angle(per_pair: list[dict]) -> str:
    """Rotation error against the pair's angle (the no-rotation baseline's error is that angle: the
    diagonal) and against the query's angle from frontal, hard pairs red, easy green."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    err = np.array([p["rot_deg"] for p in per_pair], float)
    tag = np.array(["hard" if "hard" in p["tags"] else "easy" if "easy" in p["tags"] else "other" for p in per_pair])
    for ax, key, label in zip(axes, ("angle_deg", "query_angle_deg"),
                              ("angle between anchor and query (deg)", "query's angle from frontal (deg)")):
        x = np.array([p[key] for p in per_pair], float)
        for t, c in (("easy", "tab:green"), ("other", "tab:blue"), ("hard", "tab:red")):
            if (tag == t).any():
                ax.scatter(x[tag == t], err[tag == t], s=9, alpha=0.6, color=c, label=t)
        bins = [(x >= lo) & (x < lo + 15) for lo in range(0, int(x.max()) + 15, 15)]
        ax.plot([x[b].mean() for b in bins if b.any()], [np.median(err[b]) for b in bins if b.any()], "k-",
                lw=1.5, label="median per 15 deg")
        if key == "angle_deg":
            ax.plot([0, x.max()], [0, x.max()], color="gray", ls="--", lw=1, label="no rotation (identity)")
        ax.set(xlabel=label, xlim=(0, None), ylim=(0, None))
        ax.legend(fontsize=8)
    axes[0].set_ylabel("rotation error (deg)")
    return _png(fig)


def pair_tiles(group, pair: dict, cfg) -> tuple[str, str]:
    """(anchor, query) PNGs as base64: each view's evaluation crop at the model's size (`cfg`: the run's
    TrainConfig), enlarged (about TILE pixels), its true axes solid; on the query the predicted ones dashed."""
    from PIL import Image, ImageDraw

    from relhead.datasets.preview import draw_axes
    from relhead.train.data import eval_crop

    out, R_a = [], np.asarray(group.views[pair["anchor"]]["R"], float)
    for i in (pair["anchor"], pair["query"]):
        crop, K = eval_crop(group, i, cfg.data, cfg.size)
        img = Image.fromarray((crop.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        side = cfg.size * max(round(TILE / cfg.size), 1) if cfg.size <= TILE else TILE
        img = img.resize((side, side), Image.NEAREST if side >= cfg.size else Image.BILINEAR)
        K = np.diag([side / cfg.size, side / cfg.size, 1.0]) @ K
        d, v = ImageDraw.Draw(img), group.views[i]
        draw_axes(d, K, v["R"], v["t"], width=3)
        if i == pair["query"]:
            draw_axes(d, K, np.asarray(pair["R_rel_pred"], float) @ R_a, v["t"], width=2, dash=5)
        out.append(_png(img))
    return out[0], out[1]


# -------------------------------------------------------------------------------------------- HTML
def _num(v, digits=2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _table(head: list[str], rows: list[list[str]], cls: str = "num") -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    tr = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{tr}</tbody></table>'


def synthetic_tables(doc: dict) -> str:
    """Per section (relative, query) rows overall / easy / hard / query-angle bins, the model's errors
    beside the no-rotation baseline's (section identity: R_rel = I, t_rel = 0 on the same pairs)."""
    def rows_of(sec):
        return [("overall", sec["overall"]), ("easy", sec["easy"]), ("hard", sec["hard"])] + \
            [(f"query {k} deg", v) for k, v in sec["query_angle"].items()]

    out = []
    for name, what in (("relative", "relative transform (R_rel, t_rel)"),
                       ("query", "query's absolute pose (R_rel R_a with the anchor's true pose)")):
        rel = name == "relative"
        rows = [[row, str(m["n"]), f"<b>{_num(m['rot_deg'])}</b>", _num(b["rot_deg"]), _num(m["rot_med_deg"]),
                 _num(m["yaw_deg"]), _num(m["pitch_deg"]), _num(m["roll_deg"]), _num(m["ypr_deg"]),
                 _num(b["ypr_deg"]) if rel else "", _num(m["t_m"], 4), _num(b["t_m"], 4) if rel else ""]
                for (row, m), (_, b) in zip(rows_of(doc[name]), rows_of(doc["identity"]))]
        out.append(f"<h4>{html.escape(what)}</h4>" + _table(
            ["pairs", "n", "rot (deg)", "identity rot", "rot median", "yaw", "pitch", "roll", "ypr mean",
             "identity ypr", "t (m)", "identity t (m)"], rows))
    return "".join(out)


def biwi_tables(doc: dict) -> str:
    m = ("yaw", "pitch", "roll", "mae", "geodesic")
    rows = [("detected", doc["detected"]), ("all (misses as no motion)", doc["all"])]
    rows += [(f"detected, |yaw| {k}", v) for k, v in doc["detected_by_true_yaw"].items()]
    out = (f"<p>{doc.get('sequences', '?')} sequences, {doc.get('frames', '?')} frames, "
           f"{doc.get('undetected', '?')} without a detected face ({100 * doc['detection_rate']:.1f}% detected)</p>")
    out += _table(["queries", "n", *m], [[r, str(s["n"]), *(_num(s[k]) for k in m)] for r, s in rows])
    seqs = [[html.escape(str(s.get("sequence"))), str(s["detected"]["n"]), *(_num(s["detected"][k]) for k in m)]
            for s in doc["per_sequence"]]
    return out + "<details><summary>per sequence (detected queries)</summary>" + \
        _table(["sequence", "n", *m], seqs) + "</details>"


CLIP_COLUMNS = (("rot_deg", "rot"), ("rot_med_deg", "rot med"), ("yaw_deg", "yaw"), ("pitch_deg", "pitch"),
                ("roll_deg", "roll"), ("ypr_deg", "ypr"))


def clips_table(section: dict) -> str:
    """`relhead eval`'s `clips` section: one row per anchor policy (errors of the frames' absolute
    rotations, degrees), and the error at the last frame, which for `previous` is the drift."""
    policies = section["policies"]
    rows = []
    for p, m in policies.items():
        last = m["by_frame"][max(m["by_frame"], key=int)] if m.get("by_frame") else None
        rows.append([html.escape(str(p)), str(m["n"]), *(_num(m.get(k)) for k, _ in CLIP_COLUMNS), _num(last)])
    caption = (f"temporal clips, per anchor policy: {section['clips']} clips, {section['frames']} frames; nearest "
               f"and fused know every {section['known_every']}th frame's pose")
    return f"<h4>{html.escape(caption)}</h4>" + _table(["anchor policy", "n", *(h for _, h in CLIP_COLUMNS),
                                                        "last frame"], rows)


def gallery(ev: dict, cfg, worst: int) -> str:
    """The `worst` pairs of `ev` by rotation error, or one line saying why their images are not shown."""
    from relhead.datasets.shards import CorruptShard, iter_groups
    from relhead.train.data import open_corpora

    pairs = sorted(ev["per_pair"], key=lambda p: -p["rot_deg"])[:worst]
    groups = {}
    try:
        for c in open_corpora(ev.get("data") or []):
            ids = {int(p["key"].rsplit("/", 1)[1]) for p in pairs if p["key"].rsplit("/", 1)[0] == c.name}
            shards = [s for s, r in zip(c.shards, c.groups) if ids & set(r)]
            groups.update({f"{c.name}/{g.key}": g for g in iter_groups(shards) if int(g.key) in ids})
    except (ConfigError, CorruptShard, OSError) as exc:
        return f'<p class="note">no images: the corpus the evaluation ran on cannot be read ({html.escape(str(exc))})</p>'
    cells = []
    for rank, p in enumerate(pairs, 1):
        caption = (f"#{rank} <b>error {p['rot_deg']:.1f} deg</b>, t {p['t_m']:.3f} m<br>{html.escape(p['key'])} "
                   f"view {p['anchor']} &rarr; {p['query']}<br>pair {p['angle_deg']:.1f} deg, query "
                   f"{p['query_angle_deg']:.1f} deg from frontal, {html.escape(', '.join(p['tags']) or 'no tag')}")
        g = groups.get(p["key"])
        imgs = "<p>(group not in the corpus)</p>" if g is None else "".join(
            _img(b64, f"{what} {p['key']} view {p[what]}") for what, b64 in zip(("anchor", "query"), pair_tiles(g, p, cfg)))
        cells.append(f'<figure class="pair">{imgs}<figcaption>{caption}</figcaption></figure>')
    return '<div class="gallery">' + "".join(cells) + "</div>"


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{margin-top:32px;border-bottom:1px solid #ccc}h3{font-size:16px}h4{font-size:14px;margin:10px 0 2px}
table{border-collapse:collapse;margin:6px 0 14px}th,td{padding:3px 9px;border-bottom:1px solid #e4e4e4}
table.num td{text-align:right}table.num td:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%}.gallery{display:flex;flex-wrap:wrap;gap:14px}.pair{margin:0;width:456px}
.pair img{width:224px;margin-right:4px}figcaption{font-size:12px}.note{color:#a33}.meta td{text-align:left}"""


def eval_section(name: str, kind: str, doc: dict) -> str:
    title = {"synthetic": "pairs", "biwi": "BIWI (relative protocol)", "clips": "temporal clips"}[kind]
    if kind == "synthetic" and doc.get("groups_evaluated"):  # which groups: a trained-on corpus' held-out ones
        title += " of " + ", ".join(f"{k}: {v} groups" for k, v in doc["groups_evaluated"].items())
    where = doc.get("biwi") if kind == "biwi" else ", ".join(map(str, doc.get("data", [])))
    head = f"<h3>{html.escape(name)}: {title}" + (f", {html.escape(str(where))}" if where else "") + "</h3>"
    body = synthetic_tables(doc) if kind == "synthetic" else biwi_tables(doc) if kind == "biwi" else ""
    return head + body + (clips_table(doc["clips"]) if "clips" in doc else "")


def no_evaluation(run: Path) -> str:
    """What a report of a run without an evaluation says about adding one."""
    return (f"no evaluation yet: `relhead eval --checkpoint {run}` writes {run / 'eval.json'} (its held-out groups; "
            f"--biwi DIR: {run / 'eval_biwi.json'}), which the next `relhead report {run}` shows; an evaluation "
            "written elsewhere (eval --out FILE) is added with --eval FILE")


def build_html(run: Path, info: dict, worst: int = 12) -> str:
    """The page, from read_run's `info`; a ConfigError naming the evaluation file a table cannot be read from."""
    cfg, evals = info["cfg"], info["evals"]
    steps = [r["step"] for r in info["metrics"] if "step" in r]
    meta = [("run", str(run)), ("model", f"{cfg.model.preset}, {cfg.mode}, {cfg.finetune}, {cfg.size} px"),
            ("steps", f"{max(steps) if steps else '?'} logged of {cfg.steps}"),
            ("trained on", ", ".join(map(str, info["data"])))]
    parts = [f"<h1>relhead report: {html.escape(run.resolve().name)}</h1>",
             _table(["", ""], [[html.escape(k), html.escape(v)] for k, v in meta], "meta"),
             "<details><summary>training config</summary><pre>"
             + html.escape(json.dumps(cfg.model_dump(mode="json"), indent=1)) + "</pre></details>", "<h2>Evaluation</h2>"]
    if not evals:
        parts.append(f'<p class="note">{html.escape(no_evaluation(run))}</p>')
    figures, main = [], None
    for name, (kind, doc) in evals.items():
        try:
            parts.append(eval_section(name, kind, doc))
            if kind == "synthetic" and doc["per_pair"]:
                main = main or (name, doc)
                figures.append(f"<h3>{html.escape(name)}</h3>" + _img(error_vs_angle(doc["per_pair"]),
                                                                       f"error against angle, {name}"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{run / name}: malformed ({type(exc).__name__}: {exc})") from None
    if info.get("real"):
        from relhead.train.real import table_rows

        try:
            head, rows = table_rows(info["real"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{run / 'real.json'}: malformed ({type(exc).__name__}: {exc})") from None
        parts.append("<h2>Real photos: the roll test (bench/real.py)</h2><p>Geodesic error of the relative "
                     "rotation, degrees, on real photos and on held-out renders turned by known rolls; swap and "
                     "cycle are label-free consistency angles (relhead.train.real).</p>" + _table(head, rows))
    parts.append("<h2>Learning curves</h2>")
    png = curves(info["metrics"])
    parts.append(_img(png, "learning curves") if png else "<p>no records in metrics.jsonl</p>")
    rows = [[str(r["step"]), _num(r["eval"].get("rot_deg")),
             _num(r["eval_test_time"].get("rot_deg")) if isinstance(r.get("eval_test_time"), dict) else "",
             _num(r["eval"].get("identity_rot_deg")), _num(r["eval"].get("ypr_deg")), _num(r["eval"].get("t_m"), 4)]
            for r in info["metrics"] if isinstance(r.get("eval"), dict)]
    if rows:
        parts.append(_table(["step", "rot (deg)", "rot with test-time variants", "identity rot", "ypr (deg)", "t (m)"],
                            rows))
    parts.append("<h2>Error against angle</h2>" + ("".join(figures) or "<p>no evaluated pairs</p>"))
    if main:
        parts.append(f"<h2>The {worst} worst pairs ({html.escape(main[0])})</h2><p>As the model saw them. Head "
                     "axes x red, y green, z blue: the truth solid, the prediction (R_rel_pred R_a with the "
                     "anchor's true R_a) dashed.</p>")
        try:
            parts.append(gallery(main[1], cfg, worst))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{run / main[0]}: malformed per_pair ({type(exc).__name__}: {exc})") from None
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>relhead report: '
            f'{html.escape(run.resolve().name)}</title><style>{CSS}</style></head><body>'
            + "\n".join(parts) + "</body></html>\n")


def write_report(run: str | Path, out: str | Path | None = None, worst: int = 12, evals: list[str | Path] = (),
                 log=lambda msg: None) -> Path:
    """Build the page and write it whole or not at all (default RUN/report.html); `evals`: evaluation files
    written outside the run (`relhead eval --out FILE`), shown after its own. A run without any evaluation
    gets the page of its settings and curves, and `log` says how to add one."""
    from relhead.files import check_out_file, write_atomic, write_problem

    run = Path(run)
    if worst < 0:
        raise ConfigError(f"--worst {worst}: must be >= 0")
    info = read_run(run, evals)  # bad input is refused before anything is created
    path = check_out_file(out, "--out", "report.html") if out else run / "report.html"
    page = build_html(run, info, worst)
    problem = write_problem(path.parent)
    if problem:
        raise ConfigError(f"{'--out ' if out else ''}{path}: cannot write there ({problem})")
    write_atomic(path, page)
    if not info["evals"]:
        log(f"relhead: report: {no_evaluation(run)}")
    return path
