"""`relhead report RUN`: a toy run on a synthetic corpus, evaluated on its held-out groups, on every group
(eval_realistic.json), on a BIWI-layout sequence, plus a hand-made clip evaluation, made into one
self-contained HTML page: each evaluation its own section holding its numbers, every image an embedded
PNG that decodes, the gallery the worst pairs as the model's evaluation crops with the true and
predicted axes drawn where they project; a gone corpus is one line; bad input is one line, exit 2,
nothing written; and the page renders in headless Chromium (skipped where it is not installed)."""

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from PIL import Image

from relhead.cli import main
from relhead.config import resolve
from synthetic import synthetic_corpus, synthetic_group

CORPUS = ["head.model=fake", "shards=2", "groups_per_shard=3", "views=3", "image.width=64", "image.height=64"]
TINY = ["data.size=48", "data.batch=4", "data.workers=0", "data.shuffle_buffer=8", "data.holdout_every=3",
        "model.overrides={embed_dim: 32, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2, cnn_width: 8}",
        "log_every=1", "checkpoint_every=0", "eval_max_pairs=0", "plot=false", "threads=1", "steps=4", "eval_every=2"]


def clips_section() -> dict:
    """`relhead eval`'s clips section of one 10-frame clip turning 4 degrees a frame about y, every
    predicted relative rotation off by 2 degrees about x (so `previous` drifts)."""
    from scipy.spatial.transform import Rotation

    from relhead.train import clips as C

    R = Rotation.from_euler("y", np.arange(10.0)[:, None] * 4.0, degrees=True).as_matrix()
    off = Rotation.from_euler("x", 2.0, degrees=True).as_matrix()
    pairs = {pq for p in C.POLICIES for pq in C.policy_pairs(p, 10, 5)}
    rel = {(a, q): off @ R[q] @ R[a].T for a, q in pairs}
    return {"clips": 1, "frames": 10, "known_every": 5,
            "policies": {p: C.summarise(C.clip_rows(p, R, rel, 5)) for p in C.POLICIES}}


CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 4-step toy run evaluated twice during training, by `relhead eval` (held-out groups, and every group
    as eval_realistic.json), by relhead's BIWI protocol on a sequence of synthetic views written in the
    BIWI layout (a fixed box as the detector's), and a hand-made clip evaluation."""
    from relhead.datasets.biwi import write_sequence
    from relhead.frames import rgb_to_depth
    from relhead.train.biwi import evaluate_biwi, write_json
    from relhead.train.detect import Face
    from relhead.train.predict import Predictor

    root = tmp_path_factory.mktemp("report")
    corpus = synthetic_corpus(resolve("test", CORPUS), root / "fake")
    run = root / "run"
    assert main(["train", "--data", str(corpus), "--out", str(run)] + sum((["--set", s] for s in TINY), [])) == 0
    assert main(["eval", "--checkpoint", str(run)]) == 0
    views = synthetic_group(resolve("test", CORPUS[:1] + ["views=4", "image.width=96", "image.height=72"]), 0).views
    E, e = np.eye(3), np.zeros(3)
    write_sequence(root / "biwi" / "01", views[0].labels.K, E, e,
                   [(n, v.rgb, *rgb_to_depth(v.labels.R, v.labels.t, E, e)) for n, v in enumerate(views)])
    whole = lambda rgb: [Face((10.0, 5.0, 86.0, 67.0), 0.99, np.zeros((5, 2)))]  # noqa: E731
    write_json(run / "eval_biwi.json", evaluate_biwi(root / "biwi", Predictor.from_checkpoint(run), detector=whole))
    assert main(["eval", "--checkpoint", str(run), "--split", "all", "--out", str(run / "eval_realistic.json")]) == 0
    (run / "eval_clips.json").write_text(json.dumps({"clips": clips_section()}))  # a clip evaluation's section
    return run


class Page(HTMLParser):
    """Tables (rows of cell texts), images (src, alt), figure captions and the tables under each <h3>
    heading of an HTML page."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.imgs, self.captions, self.tags, self._cell, self._cap = [], [], [], set(), None, None
        self.sections, self._head, self._section = {}, None, None  # <h3> text -> its tables
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
            if self._section is not None:
                self.sections[self._section].append(self.tables[-1])
        elif tag in ("h2", "h3"):
            self._section, self._head = None, "" if tag == "h3" else None
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.imgs.append((a.get("src", ""), a.get("alt", "")))
        elif tag == "figcaption":
            self._cap = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None
        elif tag == "figcaption":
            self.captions.append(self._cap)
            self._cap = None
        elif tag == "h3":
            self._section, self._head = self._head.strip(), None
            self.sections[self._section] = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._cap is not None:
            self._cap += data
        if self._head is not None:
            self._head += data


def _decode(src: str) -> Image.Image:
    head, b64 = src.split(",", 1)
    assert re.fullmatch(r"data:image/(png|jpeg);base64", head), head
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def _row(table, name):
    return next(r for r in table if r and r[0] == name)


def _report(run, out, capsys):
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    return text, Page(text)


def _section(page, title):
    """The tables under the <h3> whose text starts with `title` (up to the next <h2>/<h3>)."""
    return page.sections[next(h for h in page.sections if h.startswith(title))]


def test_the_page_holds_every_evaluation_the_curves_and_the_worst_pairs(run, tmp_path, capsys):
    text, page = _report(run, tmp_path / "r.html", capsys)
    # self-contained: no script, stylesheet link or external reference; every image an embedded PNG
    assert not {"script", "link", "iframe"} & page.tags and not re.search(r"(src|href)=\"(?!data:)", text)
    imgs = [_decode(src) for src, _ in page.imgs]
    assert all(min(i.size) > 40 for i in imgs)
    # each eval*.json its own section, with its own numbers, the model beside the no-rotation baseline
    for name, groups in (("eval.json", "held-out"), ("eval_realistic.json", "all")):  # which groups, said
        ev = json.loads((run / name).read_text())
        rel, query = _section(page, f"{name}: pairs of fake: {groups} groups")[:2]
        for table, sec in ((rel, "relative"), (query, "query")):
            assert table[0][:4] == ["pairs", "n", "rot (deg)", "identity rot"]
            for row_name, m, b in [("overall", ev[sec]["overall"], ev["identity"]["overall"]),
                                   ("easy", ev[sec]["easy"], ev["identity"]["easy"]),
                                   ("hard", ev[sec]["hard"], ev["identity"]["hard"])] + \
                    [(f"query {k} deg", v, ev["identity"]["query_angle"][k]) for k, v in ev[sec]["query_angle"].items()]:
                row = _row(table, row_name)
                assert row[1] == str(m["n"])
                if m["n"]:
                    assert row[2] == f"{m['rot_deg']:.2f}" and row[3] == f"{b['rot_deg']:.2f}"
        assert _row(rel, "overall")[10] == f"{ev['relative']['overall']['t_m']:.4f}"
    assert json.loads((run / "eval_realistic.json").read_text())["pairs"] == 36  # all 6 groups, not the 2 held-out ones
    biwi = json.loads((run / "eval_biwi.json").read_text())
    (biwi_table, _) = _section(page, "eval_biwi.json: BIWI")
    assert _row(biwi_table, "detected")[1:] == [str(biwi["detected"]["n"])] + \
        [f"{biwi['detected'][m]:.2f}" for m in ("yaw", "pitch", "roll", "mae", "geodesic")]
    # clips: one row per anchor policy, and the error at the last frame (previous: the drift)
    (clips,) = _section(page, "eval_clips.json: temporal clips")
    section = json.loads((run / "eval_clips.json").read_text())["clips"]["policies"]
    assert clips[0] == ["anchor policy", "n", "rot", "rot med", "yaw", "pitch", "roll", "ypr", "last frame"]
    assert [r[0] for r in clips[1:]] == list(section) == ["first", "previous", "nearest", "fused"]
    assert _row(clips, "first")[1:3] == [str(section["first"]["n"]), "2.00"]  # every frame one 2-degree error
    drift = section["previous"]["by_frame"]["9"]  # nine 2-degree errors chained by the last frame
    assert _row(clips, "previous")[-1] == f"{drift:.2f}" and 15 < drift < 18 and _row(clips, "first")[-1] == "2.00"
    # learning curves, one row per evaluation during training (steps 2 and 4), error against angle
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in metrics if "eval" in r]
    curves = next(t for t in page.tables if t[0][0] == "step")
    tta = lambda r: f"{r['eval_test_time']['rot_deg']:.2f}" if "eval_test_time" in r else ""  # noqa: E731
    assert curves[1:] == [[str(r["step"]), f"{r['eval']['rot_deg']:.2f}", tta(r), f"{r['eval']['identity_rot_deg']:.2f}",
                           f"{r['eval']['ypr_deg']:.2f}", f"{r['eval']['t_m']:.4f}"] for r in evals]
    assert [r["step"] for r in evals] == [2, 4] and [bool(tta(r)) for r in evals] == [False, True]
    alts = [alt for _, alt in page.imgs]
    assert {"learning curves", "error against angle, eval.json", "error against angle, eval_realistic.json"} <= set(alts)
    # the gallery: the 12 worst pairs of eval.json (all 12 held-out pairs here), worst first, anchor and query
    ev = json.loads((run / "eval.json").read_text())
    assert ev["pairs"] == 12 and len(page.captions) == 12
    shown = [float(re.search(r"error ([\d.]+) deg", c).group(1)) for c in page.captions]
    assert shown == [round(p["rot_deg"], 1) for p in sorted(ev["per_pair"], key=lambda p: -p["rot_deg"])]
    assert sum(a.startswith(("anchor ", "query ")) for a in alts) == 24


def test_the_gallery_shows_the_evaluation_crops_with_true_and_predicted_axes(run):
    """The tiles are the model's evaluation crops (relhead.train.data.eval_crop) enlarged; with a
    prediction turned 60 degrees from the truth, its dashed axes lie where R_rel_pred R_a projects,
    away from the solid true ones, and none are drawn there when the prediction is right."""
    from relhead.configbase import validate
    from relhead.datasets.shards import iter_groups
    from relhead.frames import euler_to_matrix, project
    from relhead.train.config import TrainConfig
    from relhead.train.data import eval_crop
    from relhead.train.report import pair_tiles

    cfg = validate(TrainConfig, json.loads((run / "config.json").read_text())["config"])
    g = next(iter(iter_groups(sorted((run.parent / "fake").glob("shard-*.tar")))))
    a, q = g.views[0], g.views[1]
    R_rel = np.asarray(q["R"]) @ np.asarray(a["R"]).T
    wrong = euler_to_matrix(60, 0, 0) @ R_rel
    crop, K = eval_crop(g, 1, cfg.data, cfg.size)
    side = _decode("data:image/png;base64," + pair_tiles(g, {"anchor": 0, "query": 1, "R_rel_pred": R_rel.tolist()},
                                                          cfg)[1]).width
    assert side % cfg.size == 0 and 200 <= side <= 300
    plain = np.kron((crop.permute(1, 2, 0).numpy() * 255).round(), np.ones((side // cfg.size, side // cfg.size, 1)))
    K = np.diag([side / cfg.size, side / cfg.size, 1.0]) @ K

    def marked(R_rel_pred, R_axes, which=1):
        """Share of points along R_axes' projected axes (40-100% of their length) that the tile changed."""
        tile = np.asarray(_decode("data:image/png;base64," + pair_tiles(
            g, {"anchor": 0, "query": 1, "R_rel_pred": R_rel_pred.tolist()}, cfg)[which])).astype(int)
        pts, _ = project(K, R_axes @ np.asarray(a["R"]), q["t"], np.vstack([np.zeros(3), np.eye(3) * 0.08]))
        samples = [pts[0] + (pts[k] - pts[0]) * f for k in (1, 2, 3) for f in np.linspace(0.4, 1.0, 13)]
        inside = [(int(x), int(y)) for x, y in samples if 1 <= x < side - 1 and 1 <= y < side - 1]
        assert len(inside) > 20
        diff = np.abs(tile - plain).sum(-1)
        return np.mean([diff[y - 1:y + 2, x - 1:x + 2].max() > 60 for x, y in inside])

    assert marked(wrong, R_rel) > 0.9  # the solid true axes
    assert marked(wrong, wrong) > 0.4  # the dashed predicted ones (half of each is gap)
    assert marked(R_rel, wrong) < 0.2  # no prediction drawn there when it is right
    tile = np.asarray(_decode("data:image/png;base64," + pair_tiles(g, {"anchor": 0, "query": 1,
                                                                     "R_rel_pred": R_rel.tolist()}, cfg)[1])).astype(int)
    assert np.mean((tile == plain).all(-1)) > 0.8  # elsewhere the tile is the crop itself, pixel for pixel


def test_a_gone_corpus_is_one_line_in_the_gallery_and_the_rest_renders(run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns("checkpoint", "report.html"))
    ev = json.loads((folder / "eval.json").read_text())
    (folder / "eval.json").write_text(json.dumps({**ev, "data": [str(tmp_path / "gone")]}))
    text, page = _report(folder, tmp_path / "r.html", capsys)
    assert not page.captions and not any(a.startswith(("anchor ", "query ")) for _, a in page.imgs)
    notes = re.findall(r'<p class="note">(.*?)</p>', text)
    assert len(notes) == 1 and str(tmp_path / "gone") in notes[0] and "\n" not in notes[0]
    assert _section(page, "eval.json: pairs") and "learning curves" in [a for _, a in page.imgs]


@pytest.mark.parametrize("case", ["no folder", "empty folder", "eval.json not an evaluation",
                                  "eval.json cut short", "eval_biwi.json malformed", "metrics line bad",
                                  "out in a file"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(run, tmp_path, capsys, case):
    folder, out, expect = tmp_path / "run", tmp_path / "out" / "r.html", "eval.json"
    if case != "no folder":
        folder.mkdir()
    if case not in ("no folder", "empty folder"):
        shutil.copy(run / "config.json", folder)
        shutil.copy(run / "metrics.jsonl", folder)
    if case in ("eval_biwi.json malformed", "metrics line bad", "out in a file"):
        shutil.copy(run / "eval.json", folder)
    expect = {"no folder": str(folder), "empty folder": "config.json",
              "eval_biwi.json malformed": "eval_biwi.json", "metrics line bad": "metrics.jsonl: line 2",
              "out in a file": "--out"}.get(case, expect)
    if case == "eval.json not an evaluation":
        (folder / "eval.json").write_text(json.dumps({"pairs": 3}))
    if case == "eval.json cut short":
        (folder / "eval.json").write_text((run / "eval.json").read_text()[:500])
    if case == "eval_biwi.json malformed":
        biwi = json.loads((run / "eval_biwi.json").read_text())
        (folder / "eval_biwi.json").write_text(json.dumps({**biwi, "detected": 3}))
    if case == "metrics line bad":
        lines = (run / "metrics.jsonl").read_text().splitlines()
        (folder / "metrics.jsonl").write_text("\n".join(lines[:1] + ["{cut"] + lines[1:]) + "\n")
    if case == "out in a file":
        (tmp_path / "out").write_text("")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["report", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("relhead: config error: ") and expect in err and "\n" not in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run "
                                              "installs it)")
def test_the_page_renders_in_headless_chromium(run, tmp_path):
    """Chromium loads the page from disk, with nothing to reach: its DOM holds the page's tables, cell for
    cell, and its images, every one decoded (a probe script added to a copy counts them after `load`
    and measures the page), and a screenshot of the whole page shows text, plots and the gallery."""
    page = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(page)]) == 0
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", "<script>addEventListener('load', () => {const b = "
                                              "document.body; b.dataset.decoded = [...document.images].filter(i => "
                                              "i.complete && i.naturalWidth > 0).length; b.dataset.height = "
                                              "document.documentElement.scrollHeight})</script></body>"))

    def chromium(*args):
        res = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout

    dom = chromium("--window-size=1280,1000", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    source, rendered = Page(page.read_text()), Page(dom)
    assert len(rendered.tables) >= 9 and rendered.tables == source.tables
    assert len(rendered.imgs) == len(source.imgs) == 27  # curves, 2 x error-vs-angle, 12 x 2 crops
    assert re.search(r'data-decoded="(\d+)"', dom).group(1) == str(len(source.imgs))
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))
    assert 3000 < height < 12000
    shot = tmp_path / "shot.png"
    chromium(f"--window-size=1280,{height}", f"--screenshot={shot}", page.as_uri())
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (height, 1280)
    top, gallery = img[: height // 3], img[-height // 4:]
    assert (top == 255).all(-1).mean() > 0.5 and (top.sum(-1) < 200).mean() > 0.01  # a white page with text
    assert len(np.unique(gallery.reshape(-1, 3) // 8, axis=0)) > 300  # the crops' colours
