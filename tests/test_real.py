"""The real-photo measure (relhead.train.real, bench/real.py): the turned crop is exactly a camera roll
(projected 3D points), its sign against relhead.frames' roll, the swap and cycle checks on known
rotations, the photo table, and bench/real.py end to end on a toy run with `relhead report`."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import configs
from relhead.cli import main
from relhead.configbase import ConfigError
from relhead.frames import euler_to_matrix, geodesic_deg, intrinsics, matrix_to_euler, project, relative_transform
from relhead.train import real as RL
from relhead.train.data import CropCfg, rotated_crop

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

pytestmark = pytest.mark.usefixtures("one_thread")

W = 128
K = intrinsics(150.0, 150.0, W / 2, W / 2)  # principal point at the image centre
POINTS = np.array([[x, y, 0.3 * abs(x) - 0.2 * y] for x in (-0.06, -0.02, 0.02, 0.06) for y in (-0.05, 0.0, 0.05)])


def blobs(uv: np.ndarray, sigma: float = 1.2) -> np.ndarray:
    """A W x W uint8 RGB picture of Gaussian blobs at pixel positions `uv` (pixel centres at +0.5)."""
    y, x = np.mgrid[0:W, 0:W] + 0.5
    img = sum(np.exp(-((x - u) ** 2 + (y - v) ** 2) / (2 * sigma ** 2)) for u, v in uv)
    return np.repeat((255 * np.clip(img, 0, 1)).astype(np.uint8)[..., None], 3, 2)


def centroids(img: np.ndarray, near: np.ndarray, r: int = 4) -> np.ndarray:
    """The intensity-weighted centre of the blob around each point of `near`."""
    g = img[..., 0].astype(float)
    out = []
    for u, v in near:
        x0, y0 = int(u) - r, int(v) - r
        win = g[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
        yy, xx = np.mgrid[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1] + 0.5
        out.append([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])
    return np.array(out)


@pytest.mark.parametrize("theta", [10.0, -30.0, 45.0])
def test_a_turned_crop_is_exactly_the_rolled_camera(theta):
    R = euler_to_matrix(15.0, -10.0, 5.0)
    t = np.array([0.01, -0.005, 0.5])
    uv, _ = project(K, R, t, POINTS)
    img = blobs(uv)
    turned = (rotated_crop(img, 0, 0, W, W, theta).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Rz = RL.roll_matrix(theta)
    want, _ = project(K, Rz @ R, Rz @ t, POINTS)  # the camera rolled: pose (Rz R, Rz t)
    got = centroids(turned, want)
    assert np.abs(got - want).max() < 0.15, np.abs(got - want).max()
    wrong, _ = project(K, Rz.T @ R, Rz.T @ t, POINTS)  # the other sign is far off
    assert np.abs(got - wrong).max() > 5.0
    # relative transform of the turned frame w.r.t. the unturned one: (Rz, 0)
    R_rel, t_rel = relative_transform(R, t, Rz @ R, Rz @ t)
    assert np.allclose(R_rel, Rz, atol=1e-12) and np.allclose(t_rel, 0, atol=1e-12)


def test_positive_roll_tilts_the_head_clockwise_as_relhead_frames_says():
    Rz = RL.roll_matrix(20.0)
    assert matrix_to_euler(Rz)[2] == pytest.approx(20.0)
    # the eye on the image right (head +x) moves down the screen (y down): clockwise
    uv, _ = project(K, np.eye(3), [0, 0, 0.5], [[0.03, 0, 0], [-0.03, 0, 0]])
    uv2, _ = project(K, Rz, Rz @ np.array([0, 0, 0.5]), [[0.03, 0, 0], [-0.03, 0, 0]])
    assert uv2[0, 1] > uv[0, 1] and uv2[1, 1] < uv[1, 1]
    # and rotated_crop turns the picture the same way: a dot right of the centre moves down
    img = blobs(np.array([[W / 2 + 30, W / 2]]))
    turned = rotated_crop(img, 0, 0, W, W, 20.0)[0].numpy()
    y, x = np.unravel_index(turned.argmax(), turned.shape)
    assert y + 0.5 == pytest.approx(W / 2 + 30 * np.sin(np.radians(20)), abs=1.0)
    assert x + 0.5 == pytest.approx(W / 2 + 30 * np.cos(np.radians(20)), abs=1.0)


def test_swap_and_cycle_are_zero_when_consistent_and_measure_the_inconsistency():
    A, B = euler_to_matrix(20, 5, -10), euler_to_matrix(-7, 12, 3)
    assert RL.swap_deg(A, A.T) == pytest.approx(0, abs=1e-4)
    assert RL.swap_deg(A, euler_to_matrix(0, 0, 3) @ A.T) == pytest.approx(3.0, abs=1e-6)
    assert RL.cycle_deg(A, B, B @ A) == pytest.approx(0, abs=1e-4)  # a -> b -> c is R_bc R_ab
    assert RL.cycle_deg(A, B, euler_to_matrix(0, 4, 0) @ B @ A) == pytest.approx(4.0, abs=1e-6)
    assert RL.cycle_deg(A, B, A @ B) > 1.0  # the other order is not the same rotation


def test_the_roll_square_keeps_every_turned_crop_inside_the_photo():
    crop = CropCfg()
    for box, (Wp, Hp) in [([100, 100, 160, 170], (512, 512)), ([10, 20, 90, 110], (300, 200)),
                          ([200, 150, 380, 330], (512, 600))]:
        x0, y0, side, scale = RL.roll_square(box, Wp, Hp, crop)
        cx, cy, r = x0 + side / 2, y0 + side / 2, side / np.sqrt(2)
        assert 0 < scale <= 1 and cx - r >= -1e-9 and cy - r >= -1e-9 and cx + r <= Wp + 1e-9 and cy + r <= Hp + 1e-9


@pytest.fixture(scope="module")
def mtcnn():
    from relhead.train.detect import MTCNN

    return MTCNN()


@pytest.mark.parametrize("photo", RL.PHOTOS, ids=lambda p: p.name)
def test_each_photo_loads_from_its_package_and_has_a_face(photo, mtcnn):
    assert photo.package and photo.licence and photo.path
    path = RL.photo_file(photo)
    assert photo.module in path.parts and path.as_posix().endswith(photo.path)
    rgb = RL.load_photo(photo)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and min(rgb.shape[:2]) >= 256
    faces = mtcnn.detect(rgb)
    assert faces and faces[0].prob > 0.99
    x0, y0, x1, y1 = faces[0].box
    assert x1 - x0 > 40 and y1 - y0 > 40


@pytest.mark.parametrize("photo", RL.PHOTOS, ids=lambda p: p.name)
def test_faceness_is_sure_of_a_real_face_where_the_cascade_found_it_and_sure_of_none_beside_it(photo, mtcnn):
    from relhead.train.detect import THRESHOLDS, to_face_box

    rgb = RL.load_photo(photo)
    H, W = rgb.shape[:2]
    face = mtcnn.detect(rgb)[0]
    fb = np.array(to_face_box(face.box, W, H))
    side = fb[2:] - fb[:2]
    corner = np.array([2.0, 2.0, 2.0 + side[0], 2.0 + side[1]])  # the same size in the photo's top left corner
    (r_face, o_face), (r_off, o_off) = mtcnn.faceness(rgb, [fb, corner])
    passes = np.log(THRESHOLDS[2] / (1 - THRESHOLDS[2]))
    assert o_face > passes + 2 and r_face > passes + 2  # where the cascade found a face, its last two nets agree
    assert o_off < 0 and r_off < 0
    # the score moves with the box: half a face box off to the side, O-Net is less sure
    shifted = fb + [side[0] / 2, 0, side[0] / 2, 0]
    assert mtcnn.faceness(rgb, [shifted])[0, 1] < o_face
    with pytest.raises(ConfigError):
        mtcnn.faceness(rgb[..., 0], [fb])


def test_bench_real_end_to_end_on_a_toy_run_and_the_report(train_corpus, tmp_path, capsys, mtcnn):
    import real as bench_real  # bench/real.py

    run = tmp_path / "run"
    args = ["train", "--data", str(train_corpus), "--out", str(run), "--set", "steps=2"]
    assert main(args + sum((["--set", s] for s in configs.TINY_TRAINING), [])) == 0
    res = bench_real.run(run, angles=(10.0, 30.0), render_box="true")
    doc = json.loads((run / "real.json").read_text())
    assert doc["kind"] == "relhead-real/1" and doc["angles"] == [10.0, 30.0]
    real, synth = doc["real"]["summary"], doc["synthetic"]["summary"]
    assert real["images"] == len(RL.PHOTOS) and real["n"] == 4 * 2 * len(RL.PHOTOS)  # (0, +-t), (+-t, 0)
    assert real["by_roll"]["10"]["identity"] == pytest.approx(10.0)
    assert real["by_roll"]["30"]["identity"] == pytest.approx(30.0)
    assert synth["images"] == doc["synthetic"]["views"] == 6  # 2 held-out groups x 3 views, true boxes
    for p in doc["real"]["photos"]:
        assert len(p["pairs"]) == 8 and len(p["swap"]) == 4 and len(p["cycle"]) == 2
        for r in p["pairs"]:  # each error is the angle between the prediction and Rz(roll)
            want = geodesic_deg(np.array(r["R_pred"]), RL.roll_matrix(r["roll"]))
            assert r["rot_deg"] == pytest.approx(want, abs=1e-3)
    assert doc["ratio"]["median"] == pytest.approx(real["median"] / synth["median"])
    for s, v in ((real, real["median"]), (synth, synth["median"]), (doc["ratio"], doc["ratio"]["median"])):
        lo, hi = s["median_ci"]
        assert lo <= v + 1e-9 and v <= hi + 1e-9
    assert 0 <= doc["held_out"]["rot_deg"] <= 180 and doc["held_out"]["pairs"] == 12
    lo, hi = doc["held_out"]["rot_ci"]  # over its 2 held-out groups
    assert doc["held_out"]["groups"] == 2 and lo <= doc["held_out"]["rot_deg"] <= hi
    table = RL.markdown(res)
    assert "| real photos |" in table and "| held-out renders |" in table and "| real / synthetic |" in table
    # the report shows it
    assert main(["eval", "--checkpoint", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Real photos: the roll test" in page and "real / synthetic" in page
    # bench/experiment.py's table of it: a row per measured run (RUNS/NAME/real.json) beside no rotation
    import experiment  # bench/experiment.py

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "toy").symlink_to(run)
    rows = experiment.real_table(tmp_path, ["toy", "never-run"]).splitlines()
    assert len(rows) == 4 and rows[2].startswith("| identity (no rotation) | 20.0 | | 10 / 30 |")
    lo, hi = real["median_ci"]
    assert rows[3].startswith(f"| toy | {real['median']:.1f} | {lo:.1f}-{hi:.1f} | {real['by_roll']['10']['median']:.1f} / ")
    assert experiment.real_table(tmp_path, ["never-run"]) == ""


def test_the_identity_model_scores_the_roll_and_is_perfectly_consistent():
    """A model predicting no rotation: error |theta| on every pair, swap and cycle 0."""
    class Still(torch.nn.Module):
        def forward(self, x):
            B, S = x.shape[:2]
            enc = torch.zeros(B, S, 9)
            enc[..., 6] = 1.0
            enc[..., 7:] = 1.0
            return [enc]

    from types import SimpleNamespace

    cfg = SimpleNamespace(mode="relative", test_time=[])
    frames = {t: torch.zeros(3, 16, 16) for t in (0.0, 10.0, -10.0, 20.0, -20.0)}
    rows = RL.roll_rows(Still(), cfg, torch.device("cpu"), False, frames, (10.0, 20.0))
    s = RL.summarise([rows], (10.0, 20.0))
    assert s["by_roll"]["10"]["median"] == pytest.approx(10.0) and s["by_roll"]["20"]["median"] == pytest.approx(20.0)
    assert s["swap_median"] == pytest.approx(0.0, abs=1e-4) and s["cycle_median"] == pytest.approx(0.0, abs=1e-4)
    assert s["roll_gain"] == pytest.approx(0.0, abs=1e-9)


def test_an_oracle_sees_the_whole_roll():
    """A model that predicts the true roll of each pair scores 0 with gain 1."""
    class Oracle(torch.nn.Module):
        def forward(self, x):  # frames carry their roll in pixel [0, 0, 0] (degrees / 100)
            B, S = x.shape[:2]
            enc = torch.zeros(B, S, 9)
            enc[..., 7:] = 1.0
            from scipy.spatial.transform import Rotation

            for b in range(B):
                rel = float(x[b, 1, 0, 0, 0] - x[b, 0, 0, 0, 0]) * 100
                q = Rotation.from_matrix(RL.roll_matrix(rel)).as_quat()
                enc[b, 1, 3:7] = torch.tensor(q, dtype=torch.float32)
                enc[b, 0, 6] = 1.0
            return [enc]

    from types import SimpleNamespace

    frames = {}
    for t in (0.0, 10.0, -10.0, 45.0, -45.0):
        f = torch.zeros(3, 16, 16)
        f[0, 0, 0] = t / 100
        frames[t] = f
    rows = RL.roll_rows(Oracle(), SimpleNamespace(mode="relative", test_time=[]), torch.device("cpu"), False, frames, (10.0, 45.0))
    s = RL.summarise([rows], (10.0, 45.0))
    assert s["median"] == pytest.approx(0.0, abs=1e-3) and s["roll_gain"] == pytest.approx(1.0, abs=1e-4)
    assert s["swap_median"] == pytest.approx(0.0, abs=1e-3) and s["cycle_median"] == pytest.approx(0.0, abs=1e-3)


def _image(errors) -> dict:
    return {"pairs": [{"rot_deg": float(e)} for e in errors]}


def test_the_median_interval_resamples_photos_not_only_pairs():
    """Three photos whose pairs all score 2, 5 and 8: the pairs agree within each photo, so only resampling
    the photos shows how far the median can move; a set drawing one photo three times (1 in 27) gives
    each end."""
    images = [_image([e] * 16) for e in (2.0, 5.0, 8.0)]
    lo, hi = RL.interval(RL.boot_medians(images))
    assert lo == pytest.approx(2.0) and hi == pytest.approx(8.0)
    same = [_image([5.0] * 16)] * 3
    assert RL.interval(RL.boot_medians(same)) == pytest.approx([5.0, 5.0])
    assert RL.interval(RL.boot_medians([])) is None


def test_the_median_interval_narrows_with_more_photos_and_is_reproducible():
    rng = np.random.default_rng(3)
    few = [_image(rng.normal(rng.normal(6, 2), 1, 16)) for _ in range(3)]
    many = few + [_image(rng.normal(rng.normal(6, 2), 1, 16)) for _ in range(27)]
    w = lambda ims: np.diff(RL.interval(RL.boot_medians(ims)))[0]  # noqa: E731
    assert w(many) < 0.6 * w(few)
    assert np.array_equal(RL.boot_medians(many), RL.boot_medians(many))
    with pytest.raises(ValueError, match="same number of pairs"):
        RL.boot_medians([_image([1.0] * 16), _image([1.0] * 8)])


def test_a_pair_and_its_swap_are_one_draw_of_the_interval():
    """Under test-time swap (0, theta) and (theta, 0) score the same: counted as one unit, each twin pair
    resamples exactly as the distinct numbers alone do (the same draws for the same seed), where counted as
    two pairs they would narrow the interval."""
    rng = np.random.default_rng(5)
    distinct = [[float(e) for e in rng.normal(6, 2, 8)] for _ in range(3)]
    thetas = [t for a in (10.0, 20.0, 30.0, 45.0) for t in (a, -a)]
    twins = [{"pairs": [{"anchor": a, "query": q, "rot_deg": e} for t, e in zip(thetas, errs)
                        for a, q in ((0.0, t), (t, 0.0))]} for errs in distinct]
    assert [len(u) for u in RL.crop_units(twins[0]["pairs"])] == [2] * 8
    assert np.array_equal(RL.boot_medians(twins), RL.boot_medians([_image(e) for e in distinct]))
    as_pairs = [_image([r["rot_deg"] for r in im["pairs"]]) for im in twins]  # no anchor/query: 16 units of 1
    w = lambda ims: np.diff(RL.interval(RL.boot_medians(ims)))[0]  # noqa: E731
    assert w(as_pairs) < w(twins)


def test_the_held_out_mean_interval_resamples_groups_not_pairs():
    """Two groups of ten pairs, every pair of the first scoring 2 and of the second 10: the pairs agree
    within each group, so only resampling the groups moves the mean (draws of one group twice give each
    end); twenty such groups give a narrower interval, the same for the same seed."""
    rows = lambda groups: [{"key": f"c/{g}", "rot_deg": e} for g, e in groups for _ in range(10)]  # noqa: E731
    two = rows([(0, 2.0), (1, 10.0)])
    lo, hi = RL.interval(RL.boot_group_means(two))
    assert lo == pytest.approx(2.0) and hi == pytest.approx(10.0)
    rng = np.random.default_rng(1)
    twenty = rows((g, e) for g, e in enumerate(rng.choice([2.0, 10.0], 20)))
    w = lambda r: np.diff(RL.interval(RL.boot_group_means(r)))[0]  # noqa: E731
    assert w(twenty) < 0.6 * w(two)
    assert np.array_equal(RL.boot_group_means(twenty), RL.boot_group_means(twenty))
    assert RL.interval(RL.boot_group_means([])) is None


def test_the_ratio_interval_covers_the_ratio_of_medians():
    real = [_image([e] * 16) for e in (4.0, 5.0, 6.0)]
    synth = [_image([e] * 16) for e in np.linspace(4.5, 5.5, 20)]
    angles = (10.0,)
    for im in real + synth:  # summarise needs the rolls; every pair a 10-degree one
        for r in im["pairs"]:
            r.update(roll=10.0, identity_deg=10.0, pred_roll_deg=9.0)
        im.update(swap=[], cycle=[])
    rs, ss = RL.summarise(real, angles), RL.summarise(synth, angles)
    r = RL.ratio(rs, ss, real, synth)
    lo, hi = r["median_ci"]
    assert lo < r["median"] < hi and lo >= 4.0 / 5.5 - 1e-9 and hi <= 6.0 / 4.5 + 1e-9
    assert RL.ratio(rs, ss)["median_ci"] is None  # without the images: no interval
