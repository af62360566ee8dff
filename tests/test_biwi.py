"""BIWI evaluation and the real-photo face detector: BIWI's frames and the literature's Euler angles
against hand-made rotations, the BIWI layout written and read back, the relative protocol with an
oracle predictor (perfect predictions score 0, a known perturbation its known error), undetected
frames, bad BIWI folders; MTCNN on real photos (scikit-image's astronaut and cat) and in
`relhead predict`. The slow tests render a sequence with relhead and run the real detector on it."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import configs
from relhead.frames import (biwi_euler, biwi_euler_to_matrix, depth_to_rgb, relative_rgb_to_depth,
                                 rgb_to_depth)
from relhead.cli import main
from relhead.config import resolve
from relhead.datasets.biwi import BiwiError, read_biwi, read_calibration, read_pose, write_sequence
from relhead.frames import geodesic_deg, matrix_to_euler
from relhead.train.biwi import evaluate_biwi
from relhead.train.detect import BOX_MAP, Face, nms, to_face_box
from synthetic import synthetic_group

pytestmark = pytest.mark.usefixtures("one_thread")


# rgb.cal extrinsics of a real BIWI sequence (the values quoted in the dataset's public card)
E_BIWI = np.array([[0.999947, 0.00432361, 0.00929419], [-0.00446314, 0.999877, 0.0150443],
                   [-0.009228, -0.015085, 0.999844]])
e_BIWI = np.array([-24.0198, 5.8896, -13.2308])


def Rx(a):
    a = np.radians(a)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def Ry(a):
    a = np.radians(a)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def Rz(a):
    a = np.radians(a)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


# ------------------------------------------------------------------------------ frames and angles
def test_biwi_euler_is_the_literatures_decomposition_of_hand_made_rotations():
    for yaw, pitch, roll in [(30, 0, 0), (0, 20, 0), (0, 0, -15), (50, 26, 13), (-70, -35, 25), (10, 40, -30)]:
        R = Rx(-pitch) @ Ry(yaw) @ Rz(roll)
        np.testing.assert_allclose(biwi_euler(R), (yaw, pitch, roll), atol=1e-9)
        np.testing.assert_allclose(biwi_euler_to_matrix(yaw, pitch, roll), R, atol=1e-12)
        # the public readers' formula, on the transposed matrix
        T = R.T
        lit = np.degrees([-np.arctan2(-T[2, 0], np.hypot(T[2, 1], T[2, 2])), np.arctan2(T[2, 1], T[2, 2]),
                          -np.arctan2(T[1, 0], T[0, 0])])
        np.testing.assert_allclose(biwi_euler(R), lit, atol=1e-9)
    # a label published with its pose file: this matrix is yaw 50.3368, pitch 26.4435, roll 13.3306
    M = np.array([[0.621077, -0.147167, 0.769809], [-0.127124, 0.95029, 0.284233], [-0.773371, -0.274392, 0.571494]])
    np.testing.assert_allclose(biwi_euler(M), (50.3368, 26.4435, 13.3306), atol=2e-3)
    # one axis at a time it is relhead's convention up to the sign of pitch; combined, the order differs
    assert matrix_to_euler(Ry(30))[0] == pytest.approx(biwi_euler(Ry(30))[0])
    assert matrix_to_euler(Rx(20))[1] == pytest.approx(-biwi_euler(Rx(20))[1])
    assert matrix_to_euler(Rz(15))[2] == pytest.approx(biwi_euler(Rz(15))[2])
    assert abs(abs(matrix_to_euler(M)[2]) - biwi_euler(M)[2]) > 1.0


def test_depth_to_rgb_extrinsics_on_hand_made_poses():
    R_d, t_d = Ry(20) @ Rx(-10), np.array([0.03, -0.02, 0.9])
    R_c, t_c = depth_to_rgb(R_d, t_d, E_BIWI, e_BIWI / 1000)
    X = np.array([[0.0, 0.0, 0.0], [0.05, -0.03, 0.08]])  # points in the head frame
    in_depth = X @ R_d.T + t_d
    np.testing.assert_allclose(X @ R_c.T + t_c, in_depth @ E_BIWI.T + e_BIWI / 1000, atol=1e-12)
    back = rgb_to_depth(R_c, t_c, E_BIWI, e_BIWI / 1000)
    np.testing.assert_allclose(back[0], R_d, atol=1e-6)
    np.testing.assert_allclose(back[1], t_d, atol=1e-6)
    # a relative rotation seen in the RGB camera, taken back to the depth camera, maps anchor to query there
    R_a, R_q = Ry(5), Ry(40) @ Rz(10)
    rel_rgb = (E_BIWI @ R_q) @ (E_BIWI @ R_a).T
    np.testing.assert_allclose(relative_rgb_to_depth(rel_rgb, E_BIWI) @ R_a, R_q, atol=1e-5)
    # the colour camera sits 24 mm toward +x of the depth camera, as on the Kinect
    assert (-E_BIWI.T @ e_BIWI)[0] == pytest.approx(24.0, abs=0.5)


# ------------------------------------------------------------------------ the layout, written and read
def _sequence_views(n_views=4, group=0, sets=()):
    cfg = resolve("test", ["head.model=fake", f"views={n_views}", "image.width=96", "image.height=72",
                           "camera.focal_mm=[50,50]", "camera.principal_jitter=0", *sets])
    return synthetic_group(cfg, group).views


def write_views(folder, views, numbers=None, E=E_BIWI, e=e_BIWI):
    """relhead views (RGB camera) -> one BIWI sequence (poses in the depth camera, mm)."""
    numbers = numbers or list(range(len(views)))
    frames = []
    for n, v in zip(numbers, views):
        R_d, t_d = rgb_to_depth(v.labels.R, v.labels.t, E, e / 1000)
        frames.append((n, v.rgb, R_d, t_d * 1000))
    return write_sequence(folder, views[0].labels.K, E, e, frames)


@pytest.fixture(scope="module")
def views():
    return _sequence_views(4)


@pytest.fixture
def biwi(tmp_path, views):
    write_views(tmp_path / "biwi" / "faces_0" / "01", views, [3, 4, 7, 9])
    write_views(tmp_path / "biwi" / "faces_0" / "02", _sequence_views(3, group=1))
    return tmp_path / "biwi"


def test_layout_round_trip(biwi, views):
    seq = biwi / "faces_0" / "01"
    assert sorted(p.name for p in seq.iterdir()) == sorted(
        ["rgb.cal", "depth.cal"] + [f"frame_{n:05d}_{k}" for n in (3, 4, 7, 9) for k in ("rgb.png", "pose.txt")])
    lines = (seq / "frame_00003_pose.txt").read_text().split("\n")
    assert len(lines) == 6 and lines[3] == "" and all(len(lines[i].split()) == 3 for i in (0, 1, 2, 4))
    cal_lines = (seq / "rgb.cal").read_text().split("\n")
    assert [len(x.split()) for x in cal_lines[:13]] == [3, 3, 3, 0, 4, 0, 3, 3, 3, 0, 3, 0, 2]
    seqs = read_biwi(biwi)
    assert [s.name for s in seqs] == ["01", "02"] and [f.number for f in seqs[0].frames] == [3, 4, 7, 9]
    cal = seqs[0].calibration
    np.testing.assert_allclose(cal.K, views[0].labels.K, rtol=1e-5)
    np.testing.assert_allclose(cal.E, E_BIWI, atol=1e-6)  # made orthonormal: BIWI rounds to 6 digits
    assert cal.size == (96, 72)
    for (R_d, c), v in zip(seqs[0].poses, views):  # back in the RGB camera: the render's labels
        R_c, t_c = depth_to_rgb(R_d, c / 1000, cal.E, cal.e_mm / 1000)
        assert geodesic_deg(R_c, v.labels.R) < 1e-3
        np.testing.assert_allclose(t_c, v.labels.t, atol=1e-5)
    assert read_biwi(biwi / "faces_0" / "02")[0].name == "02"  # a sequence folder itself


# ----------------------------------------------------------------------------------- the protocol
class Oracle:
    """Knows each image's true head pose in the RGB camera (by its bytes); predicts the true relative
    rotation, optionally with a perturbation applied to the query in the depth camera."""

    def __init__(self, folder_views: dict, E=E_BIWI, left=None, right=None):
        """folder_views: {sequence: [views with .rgb and .labels.R, or (rgb, R) pairs]}"""
        pairs = [(v.rgb, v.labels.R) if hasattr(v, "rgb") else v for vs in folder_views.values() for v in vs]
        self.truth = {hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest(): R for rgb, R in pairs}
        self.E, self.left, self.right = E, left, right
        self.calls = []

    def predict(self, anchor, query, anchor_box=None, query_box=None, anchor_pose=None):
        R_a, R_q = (self.truth[hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()] for x in (anchor, query))
        self.calls.append((anchor_box, query_box))
        E = self.E
        R_qd, R_ad = E.T @ R_q, E.T @ R_a
        if self.left is not None:
            R_qd = self.left @ R_qd
        if self.right is not None:
            R_qd = R_qd @ self.right
        return {"R_rel": (E @ R_qd) @ (E @ R_ad).T}


def whole_image(rgb):
    H, W = rgb.shape[:2]
    return [Face((W * 0.25, H * 0.25, W * 0.75, H * 0.75), 0.99, np.zeros((5, 2)))]


def test_oracle_scores_zero_and_known_perturbations_score_their_error(biwi, views):
    truth = {"01": views, "02": _sequence_views(3, group=1)}
    res = evaluate_biwi(biwi, Oracle(truth), detector=whole_image)
    assert (res["sequences"], res["frames"], res["queries"], res["undetected"]) == (2, 7, 5, 0)
    for row in ("detected", "all"):
        assert res[row]["n"] == 5 and max(res[row][m] for m in ("yaw", "pitch", "roll", "mae", "geodesic")) < 1e-3
    assert res["per_sequence"][0]["anchor"] == 3 and sum(s["detected"]["n"] for s in res["per_sequence"]) == 5
    pitch = evaluate_biwi(biwi, Oracle(truth, left=Rx(-5.0)), detector=whole_image)["detected"]  # pitch + 5
    assert pitch["pitch"] == pytest.approx(5.0, abs=1e-3) and pitch["yaw"] < 1e-3 and pitch["roll"] < 1e-3
    assert pitch["geodesic"] == pytest.approx(5.0, abs=1e-3) and pitch["mae"] == pytest.approx(5 / 3, abs=1e-3)
    roll = evaluate_biwi(biwi, Oracle(truth, right=Rz(-3.0)), detector=whole_image)["detected"]  # roll - 3
    assert roll["roll"] == pytest.approx(3.0, abs=1e-3) and roll["yaw"] < 1e-3 and roll["pitch"] < 1e-3


def test_undetected_frames_are_counted_and_scored_as_no_motion(biwi, views):
    missed = {0, 2}  # the 1st and 3rd frames of sequence 01 (00003, the first, and 00007): no face
    calls = []

    def detector(rgb):
        calls.append(1)
        return [] if len(calls) - 1 in missed else whole_image(rgb)

    oracle = Oracle({"01": views})
    res = evaluate_biwi(biwi / "faces_0" / "01", oracle, detector=detector)
    seq = res["per_sequence"][0]
    assert res["undetected"] == 2 and seq["anchor"] == 4  # the first frame with a face anchors
    assert res["detected"]["n"] == 1 and res["detected"]["geodesic"] < 1e-3  # frame 9
    assert res["all"]["n"] == 3  # frames 3, 7 (misses) and 9
    R = [v.labels.R for v in views]
    expected = (geodesic_deg(R[0], R[1]) + geodesic_deg(R[2], R[1]) + 0.0) / 3  # misses predicted as the anchor
    assert res["all"]["geodesic"] == pytest.approx(expected, abs=1e-3)
    with pytest.raises(BiwiError, match="found no face in any of the 4 frames"):
        evaluate_biwi(biwi / "faces_0" / "01", oracle, detector=lambda rgb: [])


# ------------------------------------------------------------------------------------- bad input
def _damage(root, how):
    seq = root / "faces_0" / "01"
    if how == "no rgb.cal":
        (seq / "rgb.cal").unlink()
        return "rgb.cal: missing"
    if how == "short rgb.cal":
        (seq / "rgb.cal").write_text("517 0 320\n0 517 240\n0 0 1\n")
        return "rgb.cal: expected K"
    if how == "bad extrinsic":
        text = (seq / "rgb.cal").read_text().replace("0.999947", "1.5")
        (seq / "rgb.cal").write_text(text)
        return "rgb.cal: rows 5-7 (extrinsic rotation) is not a rotation"
    if how == "no pose":
        (seq / "frame_00007_pose.txt").unlink()
        return "frame_00007_pose.txt: missing"
    if how == "text in pose":
        (seq / "frame_00004_pose.txt").write_text("1 0 0\n0 one 0\n0 0 1\n\n0 0 900\n")
        return "frame_00004_pose.txt: line 2 is not numbers"
    if how == "pose not a rotation":
        (seq / "frame_00004_pose.txt").write_text("1 0 0\n0 2 0\n0 0 1\n\n0 0 900\n")
        return "frame_00004_pose.txt: rows 1-3 (rotation) is not a rotation"
    if how == "pose without centre":
        (seq / "frame_00009_pose.txt").write_text("1 0 0\n0 1 0\n0 0 1\n")
        return "frame_00009_pose.txt: expected 3 rows of rotation and 1 row of head centre"
    if how == "one frame":
        for n in (4, 7, 9):
            (seq / f"frame_{n:05d}_rgb.png").unlink()
        return "01: 1 frame(s)"
    if how == "empty":
        shutil.rmtree(root / "faces_0")
        return "no BIWI sequences"
    raise ValueError(how)


BAD = ["no rgb.cal", "short rgb.cal", "bad extrinsic", "no pose", "text in pose", "pose not a rotation",
       "pose without centre", "one frame", "empty"]


@pytest.mark.parametrize("how", BAD)
def test_bad_biwi_folders_are_one_line_exit_2_nothing_written(biwi, tmp_path, capsys, how):
    expected = _damage(biwi, how)
    out = tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(tmp_path / "no-run"), "--biwi", str(biwi), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("relhead: ") and "\n" not in err and expected in err, err
    assert not out.exists()


def test_reader_checks_every_file_before_any_work(biwi):
    _damage(biwi, "pose not a rotation")
    called = []
    with pytest.raises(BiwiError, match="frame_00004_pose.txt"):
        evaluate_biwi(biwi, Oracle({}), detector=lambda rgb: called.append(1) or [])
    assert not called
    with pytest.raises(BiwiError, match="not a folder"):
        read_biwi(biwi / "nothing")
    assert read_pose(biwi / "faces_0" / "02" / "frame_00000_pose.txt")[1][2] > 0
    assert read_calibration(biwi / "faces_0" / "02" / "depth.cal").size == (96, 72)


# --------------------------------------------------------------------------------- the detector
def test_nms_and_box_map_on_hand_made_boxes():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 4, 4.0]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [1, 3, 2]  # box 0 overlaps box 1 by IoU 0.68
    assert nms(boxes, scores, 0.5, mode="min").tolist() == [1, 2]  # box 3 lies inside box 1: overlap 1 over its own area
    m = {"cx": 0.1, "cy": -0.2, "sx": 0.5, "sy": 2.0}
    assert to_face_box([10, 20, 30, 60], 100, 100, m) == pytest.approx([17, 0, 27, 72])  # y0 clamped to the image
    assert set(BOX_MAP) == {"cx", "cy", "sx", "sy"}


@pytest.fixture(scope="module")
def mtcnn():
    from relhead.train.detect import MTCNN

    return MTCNN()


def test_mtcnn_finds_the_face_in_a_real_photo_and_none_in_a_cat(mtcnn):
    skdata = pytest.importorskip("skimage.data")
    half = lambda rgb: np.asarray(Image.fromarray(rgb).reduce(2))  # noqa: E731  (quicker, faces still > 20 px)
    faces = mtcnn.detect(half(skdata.astronaut()))
    assert len(faces) == 1 and faces[0].prob > 0.99
    (x0, y0, x1, y1), lm = faces[0].box, faces[0].landmarks
    assert 30 < x1 - x0 < 80 and 30 < y1 - y0 < 80  # a face about 50 px across in the 256 px photo
    assert all(x0 < x < x1 and y0 < y < y1 for x, y in lm)
    l_eye, r_eye, nose, l_mouth, r_mouth = lm
    assert l_eye[0] < nose[0] < r_eye[0] and l_mouth[0] < r_mouth[0]  # image-left first
    assert max(l_eye[1], r_eye[1]) < nose[1] < min(l_mouth[1], r_mouth[1])  # eyes, nose, mouth from the top
    assert mtcnn.detect(half(skdata.chelsea())) == [] and mtcnn.detect(half(skdata.coffee())) == []


# ---------------------------------------------------------------------------- relhead predict, eval
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, train_corpus):
    """A toy model trained for 2 steps: something `relhead predict` can load."""
    run = tmp_path_factory.mktemp("biwirun") / "run"
    sets = configs.TINY_TRAINING + ["steps=2", "data.batch=2", "data.shuffle_buffer=4"]
    assert main(["train", "--data", str(train_corpus), "--out", str(run)] + sum((["--set", s] for s in sets), [])) == 0
    return run


def test_predict_uses_mtcnn_without_a_box_and_refuses_a_faceless_image(tiny_run, tmp_path, capsys):
    skdata = pytest.importorskip("skimage.data")
    Image.fromarray(skdata.astronaut()).save(tmp_path / "a.png")
    Image.fromarray(skdata.chelsea()).save(tmp_path / "cat.png")
    capsys.readouterr()
    base = ["predict", "--checkpoint", str(tiny_run), "--anchor", str(tmp_path / "a.png")]
    assert main(base + ["--query", str(tmp_path / "a.png"), "--query-box", "100,40,300,220"]) == 0
    out = json.loads(capsys.readouterr().out)
    a, q = out["boxes"]["anchor"], out["boxes"]["query"]
    assert a["source"] == "mtcnn" and a["box"] == pytest.approx(to_face_box(a["mtcnn_box"], 512, 512))
    assert q == {"source": "given", "box": [100.0, 40.0, 300.0, 220.0]}
    assert main(base + ["--query", str(tmp_path / "cat.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cat.png" in err and "no face" in err and "\n" not in err
    assert main(base + ["--query", str(tmp_path / "cat.png"), "--query-box", "full"]) == 0


def test_eval_biwi_with_no_face_anywhere_exits_2_and_writes_nothing(tiny_run, biwi, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(tiny_run), "--biwi", str(biwi), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "found no face in any of the 7 frames" in err and "\n" not in err and not out.exists()
    assert main(["eval", "--checkpoint", str(tiny_run), "--biwi", str(biwi), "--data", str(biwi)]) == 2


# --------------------------------------------------------------------- rendered, with the real MTCNN
def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


@pytest.fixture(scope="module")
def biwi_sequence(tmp_path_factory):
    """One Anny head rendered by relhead in 6 views with the same intrinsics, written as BIWI sequence 01."""
    from relhead.datasets.generate import generate
    from relhead.datasets.shards import iter_groups

    tmp = tmp_path_factory.mktemp("biwirender")
    cfg = resolve("test", ["views=6", "groups_per_shard=1", "image.width=240", "image.height=180",
                           "camera.focal_mm=[50,50]", "camera.principal_jitter=0", "pose.yaw_deg=[-30,30]",
                           "pose.pitch_deg=[-10,10]", "pose.roll_deg=[-5,5]", "render.samples=8", "render.denoise=true",
                           "render.skin_shader=mpfb", "hair.brows=[0.8,1]", "skin.region_tint=[0.6,1]"])
    generate(cfg, tmp / "corpus", log=lambda *_: None)
    g = next(iter_groups(sorted((tmp / "corpus").glob("shard-*.tar"))))
    views = [(g.image(i), np.array(v["R"]), np.array(v["t"]), v["face_box"]) for i, v in enumerate(g.views)]
    Ks = [np.array(v["K"]) for v in g.views]
    assert all(np.array_equal(K, Ks[0]) for K in Ks)  # BIWI has one K per sequence
    frames = []
    for n, (rgb, R, t, _) in enumerate(views):
        R_d, t_d = rgb_to_depth(R, t, E_BIWI, e_BIWI / 1000)
        frames.append((n, rgb, R_d, t_d * 1000))
    write_sequence(tmp / "biwi" / "faces_0" / "01", Ks[0], E_BIWI, e_BIWI, frames)
    return tmp / "biwi", views


@pytest.mark.slow
def test_rendered_sequence_in_biwi_layout_with_mtcnn(biwi_sequence, tiny_run, tmp_path, capsys):
    root, views = biwi_sequence
    truth = {"01": [(rgb, R) for rgb, R, _, _ in views]}
    oracle = Oracle(truth)
    res = evaluate_biwi(root, oracle)
    with capsys.disabled():
        print("\nBIWI layout, rendered:", json.dumps({k: res[k] for k in ("frames", "undetected", "detected", "all")}))
    assert res["frames"] == 6 and res["detected"]["n"] >= 2  # the anchor and at least two queries found
    assert res["detected"]["mae"] < 1e-3 and res["detected"]["geodesic"] < 1e-3
    pitch = evaluate_biwi(root, Oracle(truth, left=Rx(-5.0)))["detected"]
    assert pitch["pitch"] == pytest.approx(5.0, abs=1e-3) and pitch["yaw"] < 1e-3 and pitch["roll"] < 1e-3
    yaw = evaluate_biwi(root, Oracle(truth, left=Rx(-10) @ Ry(7.0) @ Rx(10)))["detected"]  # not an Euler offset
    assert yaw["geodesic"] == pytest.approx(7.0, abs=1e-3)
    # the model is handed relhead face boxes mapped from MTCNN's, which cover the true landmark box
    # better than MTCNN's own
    rows = [r for r in res["per_frame"] if r["detected"]]
    boxes = {r["frame"]: r for r in rows}
    mapped = np.mean([_iou(boxes[n]["box"], views[n][3]) for n in boxes])
    raw = np.mean([_iou(boxes[n]["mtcnn_box"], views[n][3]) for n in boxes])
    with capsys.disabled():
        print(f"IoU with the true face box: mapped {mapped:.3f}, MTCNN's {raw:.3f}")
    assert mapped > 0.7 and mapped > raw
    # the command line, with a (toy) trained model
    out = tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(tiny_run), "--biwi", str(root), "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["frames"] == 6 and saved["undetected"] == res["undetected"]
    assert saved["detected"]["n"] == res["detected"]["n"] and 0 <= saved["detected"]["mae"] <= 180
    assert "anchor is the first frame" in saved["protocol"] and "BIWI" in capsys.readouterr().out


@pytest.mark.slow  # a subprocess or a browser: seconds, kept out of the fast tier
def test_mtcnn_equals_facenet_pytorchs_own_cascade(tmp_path):
    """facenet-pytorch's detect_face run itself (in a subprocess, with a stand-in torchvision whose
    batched_nms is relhead's nms: its real torchvision does not install beside this torch) gives
    relhead's boxes, probabilities and landmarks on real photos."""
    import subprocess
    import sys

    pytest.importorskip("skimage.data")
    script = """
import sys, types, torch, numpy as np
torch.set_num_threads(1)
from relhead.train.detect import nms, MTCNN
mods = {n: types.ModuleType(n) for n in ("torchvision", "torchvision.ops", "torchvision.ops.boxes",
                                          "torchvision.transforms", "torchvision.transforms.functional")}
def batched_nms(b, s, idx, thr):
    keep = [torch.nonzero(idx == c).flatten() for c in idx.unique()]
    keep = torch.cat([m[nms(b[m], s[m], thr)] for m in keep]) if keep else torch.zeros(0, dtype=torch.long)
    return keep[torch.argsort(s[keep], descending=True)]
mods["torchvision.ops.boxes"].batched_nms = batched_nms
sys.modules.update(mods)
from facenet_pytorch import MTCNN as Reference
import skimage.data as d
from PIL import Image
ref, ours = Reference(device="cpu"), MTCNN()
for name in ("astronaut", "camera"):
    img = getattr(d, name)()
    img = np.asarray(Image.fromarray(img if img.ndim == 3 else np.stack([img] * 3, -1)).reduce(2))
    boxes, probs, points = ref.detect(img, landmarks=True)
    faces = ours.detect(img)
    assert len(faces) == len(boxes) >= 1, (name, len(faces), boxes)
    for f, b, p, lm in zip(faces, boxes, probs, points):
        assert np.abs(np.array(f.box) - np.array(b, float)).max() < 1e-3, (name, f.box, b)
        assert abs(f.prob - float(p)) < 1e-5 and np.abs(f.landmarks - np.array(lm, float)).max() < 1e-3
print("same")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("same"), r.stderr[-2000:]
