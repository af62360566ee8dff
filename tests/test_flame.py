"""The FLAME backend on FLAME-format files this test writes itself (no licensed file is used): the
chumpy-free loader (.pkl with chumpy objects and a sparse J_regressor, and .npz), its refusals,
skinning, the head frame, barycentric landmarks, the config's host paths; and a tiny render (slow)."""

import json
import pickle
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp

import fake_head
from cpu import avx2_host_env, native_env, needs_avx512
from relhead.assets import registry
from relhead.assets.flame_head import (JAW_OPEN_MAX_DEG, R_WORLD_HEAD_REST, FlameFileError, FlameHead,
                                       FlameIdentity, load_model, read_file)
from relhead.config import ConfigError, resolve
from relhead.frames import euler_to_matrix

W = R_WORLD_HEAD_REST
ORIGIN = np.array([0.0, 0.03, 0.02])  # where the test head's eye midpoint sits in FLAME's world
SEGMENTS = 16


# ---------------------------------------------------------------------------------- test files
def _to_world(x_head):
    return x_head @ W.T + ORIGIN


def make_flame_arrays(seed=0) -> dict:
    """fake_head's analytic head (skull, neck, two eyeballs) as a FLAME model: 5 joints with FLAME's
    tree, skinning weights, 300 + 100 blendshapes (a few non-zero), pose correctives on the neck."""
    h = fake_head.FakeHead(SEGMENTS)
    rng = np.random.default_rng(seed)
    head = h.rest  # head-frame coordinates (x right, y down, z into the head)
    v = _to_world(head)
    n = len(v)
    m = 2 * SEGMENTS
    n_skull = (SEGMENTS + 1) * m
    eye_r, eye_l = h.eye_vertices  # fake_head builds the image-left (subject's right) eye first
    rings = (eye_r[0] - n_skull) // m  # the neck's rings of m vertices, top to bottom
    neck = np.arange(n_skull, n_skull + rings * m)
    neck_top, neck_bottom = neck[:m], neck[-m:]
    skin = np.arange(n_skull + rings * m)

    J_reg = np.zeros((5, n))
    J_reg[0, neck_bottom] = 1.0 / m
    J_reg[1, neck_top] = 1.0 / m
    J_reg[2, neck_top] = 1.0 / m  # the jaw hinges behind the chin, where the neck meets the skull
    J_reg[3, eye_l] = 1.0 / len(eye_l)
    J_reg[4, eye_r] = 1.0 / len(eye_r)

    weights = np.zeros((n, 5))
    skull = np.arange(n_skull)
    jaw = np.clip((head[skull, 1] - 0.045) / 0.03, 0, 1) * (head[skull, 2] < 0.075)
    weights[skull, 2], weights[skull, 1] = jaw, 1 - jaw
    down = np.repeat(np.linspace(0.0, 1.0, rings), m)  # the neck bends smoothly from its top to its base
    weights[neck, 1], weights[neck, 0] = 1.0 - down, down
    weights[eye_l, 3] = weights[eye_r, 4] = 1.0

    shapedirs = np.zeros((n, 3, 400))
    shapedirs[skin, 0, 0] = 0.1 * (v[skin, 0] - ORIGIN[0])  # wider
    for eye in (eye_l, eye_r):  # eyeballs move rigidly with the width
        shapedirs[eye, 0, 0] = 0.1 * (v[eye, 0].mean() - ORIGIN[0])
    shapedirs[skin, 1, 1] = 0.05 * (v[skin, 1] - ORIGIN[1])  # taller
    shapedirs[skin, :, 2] = rng.normal(0, 0.001, (len(skin), 3))
    brow = skull[(head[skull, 2] < 0.075) & (head[skull, 1] < -0.02) & (head[skull, 1] > -0.06)]
    shapedirs[brow, 1, 300] = 0.004  # exp000 raises the brows
    shapedirs[skull, :, 301] = rng.normal(0, 0.0005, (len(skull), 3))
    posedirs = np.zeros((n, 3, 36))
    posedirs[neck] = rng.normal(0, 0.002, (len(neck), 3, 36))
    kintree = np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64)
    return {"v_template": v, "shapedirs": shapedirs, "posedirs": posedirs, "J_regressor": J_reg,
            "kintree_table": kintree, "weights": weights, "f": h.faces.astype(np.uint32),
            "J": J_reg @ v, "bs_style": "lbs", "bs_type": "lrotmin",
            "_landmarks": (h.landmark_faces, h.landmark_bary), "_skull": skull, "_brow": brow}


class _FakeCh:
    """Pickles as `chumpy.ch.Ch` with chumpy's state (its `x` and bookkeeping)."""

    def __init__(self, x):
        self.x = x
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = self._make_sparse = False


class _FakeSelect:
    """Pickles as `chumpy.reordering.Select` (a gather and reshape of another chumpy value)."""

    def __init__(self, a, idxs, preferred_shape):
        self.a, self.idxs, self.preferred_shape = a, idxs, preferred_shape
        self._dirty_vars = {"a"}


def _chumpy_pickle(data: dict, protocol: int) -> bytes:
    """Pickle with a stand-in `chumpy` package in sys.modules, removed again afterwards."""
    ch, reordering = types.ModuleType("chumpy.ch"), types.ModuleType("chumpy.reordering")
    _FakeCh.__module__, _FakeCh.__qualname__, _FakeCh.__name__ = "chumpy.ch", "Ch", "Ch"
    _FakeSelect.__module__, _FakeSelect.__qualname__, _FakeSelect.__name__ = "chumpy.reordering", "Select", "Select"
    ch.Ch, reordering.Select = _FakeCh, _FakeSelect
    sys.modules.update({"chumpy": types.ModuleType("chumpy"), "chumpy.ch": ch, "chumpy.reordering": reordering})
    try:
        return pickle.dumps(data, protocol=protocol)
    finally:
        for name in ("chumpy", "chumpy.ch", "chumpy.reordering"):
            del sys.modules[name]


def write_flame_files(folder, protocol=2) -> dict:
    """model.pkl (chumpy objects, sparse J_regressor), model.npz, landmark_embedding.npy (DECA-style)
    and lmk68.npz in `folder`; returns their paths and the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    a = make_flame_arrays()
    model = {k: v for k, v in a.items() if not k.startswith("_")}
    sd = model["shapedirs"]
    pkl = dict(model, v_template=_FakeCh(model["v_template"]), weights=_FakeCh(model["weights"]),
               shapedirs=_FakeSelect(_FakeCh(sd.ravel()), np.arange(sd.size), sd.shape),
               J_regressor=sp.csc_matrix(model["J_regressor"]))
    (folder / "model.pkl").write_bytes(_chumpy_pickle(pkl, protocol))
    np.savez(folder / "model.npz", **{k: v for k, v in model.items() if isinstance(v, np.ndarray)})
    faces, bary = a["_landmarks"]
    emb = {"static_lmk_faces_idx": faces[17:], "static_lmk_bary_coords": bary[17:],
           "full_lmk_faces_idx": faces[None], "full_lmk_bary_coords": bary[None].astype(np.float32)}
    np.save(folder / "landmark_embedding.npy", np.array(emb, dtype=object), allow_pickle=True)
    np.savez(folder / "lmk68.npz", lmk_face_idx=faces.astype(np.uint32), lmk_b_coords=bary)
    return {"pkl": folder / "model.pkl", "npz": folder / "model.npz", "lmk": folder / "landmark_embedding.npy",
            "lmk_npz": folder / "lmk68.npz", "arrays": a}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_flame_files(tmp_path_factory.mktemp("flame"))


@pytest.fixture(scope="module")
def model(files):
    return FlameHead(files["pkl"], files["lmk"])


def flame_sets(files, *more):
    return ["head.model=flame", f"head.model_path={files['pkl']}", f"head.landmarks_path={files['lmk']}", *more]


# ---------------------------------------------------------------------------------- the loader
def test_pkl_and_npz_load_to_the_same_model_without_chumpy(files):
    assert "chumpy" not in sys.modules
    a, b = load_model(files["pkl"]), load_model(files["npz"])
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert np.array_equal(a["J_regressor"], files["arrays"]["J_regressor"])
    assert tuple(a["parents"]) == (-1, 0, 1, 1, 1)
    lm_a, lm_b = FlameHead(files["pkl"], files["lmk"]), FlameHead(files["npz"], files["lmk_npz"])
    assert np.array_equal(lm_a.landmark_faces, lm_b.landmark_faces)
    assert np.allclose(lm_a.landmark_bary, lm_b.landmark_bary, atol=1e-7)  # float32 in the .npy


def test_python3_protocol_pickles_load_too(tmp_path, files):
    p = write_flame_files(tmp_path, protocol=4)["pkl"]
    assert np.array_equal(load_model(p)["shapedirs"], load_model(files["npz"])["shapedirs"])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/relhead-flame-pwned",))


@pytest.mark.parametrize("payload", [{"v_template": _Evil()}, {"x": np.array([_Evil()], dtype=object)}])
def test_a_pickle_naming_other_code_is_refused(tmp_path, payload):
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(FlameFileError, match=r"head.model_path \(evil.pkl\): not a usable file: refused to load "
                                             r"(posix|os)\.system"):
        load_model(bad)
    npy = tmp_path / "evil.npy"
    np.save(npy, np.array(payload, dtype=object), allow_pickle=True)
    with pytest.raises(FlameFileError, match="refused to load"):
        read_file(npy, "landmarks_path", allow_torch=True)
    from pathlib import Path

    assert not Path("/tmp/relhead-flame-pwned").exists()


def test_shapes_are_checked_with_one_line_errors(tmp_path, files):
    model = {k: v for k, v in files["arrays"].items() if not k.startswith("_") and isinstance(v, np.ndarray)}
    n = len(model["v_template"])
    cases = [
        ({"shapedirs": model["shapedirs"][:, :, :300]}, rf"shapedirs has shape \({n}, 3, 300\), expected "
                                                          rf"\({n}, 3, 400\) \(300 shape then 100 expression"),
        ({"J_regressor": model["J_regressor"][:4]}, rf"J_regressor has shape \(4, {n}\), expected \(5, {n}\)"),
        ({"kintree_table": np.array([[2**32 - 1, 0, 1, 2, 1], [0, 1, 2, 3, 4]])},
         r"kintree_table parents \(-1, 0, 1, 2, 1\), expected FLAME's \(-1, 0, 1, 1, 1\)"),
        ({"f": model["f"].astype(np.int64) + 5000}, f"f indexes vertices outside 0..{n - 1}"),
    ]
    for change, message in cases:
        p = tmp_path / "bad.npz"
        np.savez(p, **{**model, **change})
        with pytest.raises(FlameFileError, match=r"head.model_path \(bad.npz\): " + message) as err:
            load_model(p)
        assert "\n" not in str(err.value)
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in model.items() if k != "weights"})
    with pytest.raises(FlameFileError, match="not a FLAME model: no weights"):
        load_model(tmp_path / "bad.npz")


def test_landmark_files_need_68_points(tmp_path, files):
    faces, bary = files["arrays"]["_landmarks"]
    p = tmp_path / "flame_static_embedding.pkl"
    p.write_bytes(pickle.dumps({"lmk_face_idx": faces[17:], "lmk_b_coords": bary[17:]}, protocol=2))
    with pytest.raises(FlameFileError, match="51 landmarks, expected the 68 iBUG points .FLAME's 51-point"):
        FlameHead(files["npz"], p)
    np.savez(tmp_path / "nothing.npz", points=bary)
    with pytest.raises(FlameFileError, match="no landmark embedding: expected full_lmk_faces_idx"):
        FlameHead(files["npz"], tmp_path / "nothing.npz")


def test_decas_torch_contour_tables_are_skipped_not_built(tmp_path, files):
    """DECA's landmark_embedding.npy pickles its contour tables as torch tensors: they are read as
    inert placeholders (torch's loaders are never called) and the 68-point arrays are used."""
    torch = pytest.importorskip("torch")
    faces, bary = files["arrays"]["_landmarks"]
    emb = {"dynamic_lmk_faces_idx": torch.zeros(79, 17, dtype=torch.long),
           "full_lmk_faces_idx": faces[None], "full_lmk_bary_coords": bary[None]}
    np.save(tmp_path / "deca.npy", np.array(emb, dtype=object), allow_pickle=True)
    m = FlameHead(files["npz"], tmp_path / "deca.npy")
    assert np.array_equal(m.landmark_faces, faces)
    with pytest.raises(FlameFileError, match="refused to load torch"):
        read_file(tmp_path / "deca.npy", "model_path")  # not for model files


def test_masks_file_labels_the_eyeballs(tmp_path, files, model):
    h = fake_head.FakeHead(SEGMENTS)
    p = tmp_path / "FLAME_masks.pkl"
    p.write_bytes(pickle.dumps({"left_eyeball": h.eye_vertices[1], "right_eyeball": h.eye_vertices[0],
                                "lips": np.arange(3)}, protocol=2))
    with_masks = FlameHead(files["npz"], files["lmk"], p)
    assert np.array_equal(with_masks.face_parts, model.face_parts)  # the same eyeballs as the skinning gives
    assert np.array_equal(with_masks.face_parts, h.face_parts)
    p.write_bytes(pickle.dumps({"lips": np.arange(3)}, protocol=2))
    with pytest.raises(FlameFileError, match="left_eyeball and right_eyeball"):
        FlameHead(files["npz"], files["lmk"], p)


# ---------------------------------------------------------------------------------- geometry
def test_sampling_is_deterministic(model):
    cfg = resolve("test", ["head.model=flame", "head.shape_components=20", "head.expression_components=10",
                           "head.expression.neutral_fraction=0"]).head
    a = [model.sample_identity(np.random.default_rng(3), cfg), model.sample_expression(np.random.default_rng(3), cfg)]
    b = [model.sample_identity(np.random.default_rng(3), cfg), model.sample_expression(np.random.default_rng(3), cfg)]
    assert a == b and len(a[0].shape) == 20
    assert sorted(a[1]) == [f"exp{i:03d}" for i in range(10)] + ["jawOpen"]
    assert 0.0 <= a[1]["jawOpen"] <= 0.4
    neutral = resolve("test", ["head.model=flame", "head.expression.neutral_fraction=1"]).head
    assert model.sample_expression(np.random.default_rng(0), neutral) == {}


def test_zero_parameters_give_the_template_and_the_rest_frame(files, model):
    a = files["arrays"]
    (p,) = model.pose(FlameIdentity(), [{}], [(0.0, 0.0)], [np.eye(3)])
    assert np.allclose(p.vertices, a["v_template"], atol=1e-6)
    J = a["J_regressor"] @ a["v_template"]
    assert np.allclose(p.T_world_head[:3, 3], 0.5 * (J[3] + J[4])) and np.allclose(p.T_world_head[:3, 3], ORIGIN)
    assert np.allclose(p.T_world_head[:3, :3], W)
    # In head-frame coordinates: the left eye (joint 3) is to the image right, the crown is up (-y),
    # the nose tip is the nearest point to a camera the face looks into (-z).
    X = (p.vertices.astype(float) - p.T_world_head[:3, 3]) @ p.T_world_head[:3, :3]
    assert ((J[3] - ORIGIN) @ W)[0] > 0.02
    assert np.argmin(X[:, 1]) == np.argmax(a["v_template"][:, 1])
    assert np.argmin(X[:, 2]) == np.argmax(a["v_template"][:, 2])
    err = np.abs(X - fake_head.FakeHead(SEGMENTS).rest).max()
    assert err < 1e-6, err  # fake_head's head frame, exactly
    lm = np.einsum("lk,lkd->ld", model.landmark_bary, p.vertices[model.faces[model.landmark_faces]].astype(float))
    assert np.allclose(lm, p.landmarks)
    assert model.head_width(FlameIdentity()) == pytest.approx(np.ptp(a["v_template"][:, 0]))
    assert model.head_width(FlameIdentity(shape=[1.0])) > model.head_width(FlameIdentity())


def test_neck_rotation_turns_the_head_frame_and_the_skull_with_it(files, model):
    a = files["arrays"]
    identity = FlameIdentity(shape=[0.8, -0.5, 1.0])
    R = euler_to_matrix(35.0, -12.0, 18.0)
    expr = {"exp000": 1.5, "exp001": -1.0, "jawOpen": 0.6}
    rest, posed = model.pose(identity, [expr, expr], [(0.0, 0.0), (0.0, 0.0)], [np.eye(3), R])
    T0, T1 = rest.T_world_head, posed.T_world_head
    assert np.allclose(W.T @ T1[:3, :3], R, atol=1e-9)  # the frame turned by R in its own axes
    assert np.allclose(T1[:3, :3] @ T0[:3, :3].T, W @ R @ W.T, atol=1e-9)  # = R in FLAME's world axes
    # Skull vertices (skinned to the neck joint alone) keep their head-frame coordinates exactly.
    rigid = a["_skull"][model.weights[a["_skull"], 1] == 1.0]
    head0 = (rest.vertices[rigid].astype(float) - T0[:3, 3]) @ T0[:3, :3]
    head1 = (posed.vertices[rigid].astype(float) - T1[:3, 3]) @ T1[:3, :3]
    assert len(rigid) > 300 and np.abs(head0 - head1).max() < 1e-6
    for p in (rest, posed):
        tri = p.vertices[model.faces[model.landmark_faces]].astype(float)
        assert np.allclose(np.einsum("lk,lkd->ld", model.landmark_bary, tri), p.landmarks)
        Rp = p.T_world_head[:3, :3]
        assert np.allclose(Rp @ Rp.T, np.eye(3)) and np.isclose(np.linalg.det(Rp), 1.0)


def test_expression_jaw_and_gaze_move_what_they_should(files, model):
    a = files["arrays"]
    ident = FlameIdentity()
    neutral, brows, jaw, gaze = model.pose(ident, [{}, {"exp000": 1.0}, {"jawOpen": 1.0}, {}],
                                           [(0, 0), (0, 0), (0, 0), (25.0, -10.0)], [np.eye(3)] * 4)
    to_head = lambda p: (p.vertices.astype(float) - p.T_world_head[:3, 3]) @ p.T_world_head[:3, :3]  # noqa: E731
    X0, Xb, Xj, Xg = map(to_head, (neutral, brows, jaw, gaze))
    assert np.allclose(Xb[a["_brow"], 1] - X0[a["_brow"], 1], -0.004)  # brows up (-y)
    chin = np.flatnonzero(model.weights[:, 2] == 1.0)  # the jaw's vertices swing down (+y) and back (+z)
    assert len(chin) > 20 and (Xj[chin, 1] - X0[chin, 1]).mean() > 0.01 and (Xj[chin, 2] - X0[chin, 2]).mean() > 0
    hinge = (a["J_regressor"] @ a["v_template"])[2] - ORIGIN
    Rj = euler_to_matrix(0.0, JAW_OPEN_MAX_DEG, 0.0)  # jawOpen 1 = the full angle about x (pitch down)
    assert np.allclose(Xj[chin] - hinge @ W, (X0[chin] - hinge @ W) @ Rj.T, atol=1e-6)
    skull = a["_skull"][model.weights[a["_skull"], 1] == 1.0]  # the rest of the skull stays (no correctives)
    assert np.allclose(Xj[skull], X0[skull], atol=1e-6)
    eye_l = np.flatnonzero(model.weights[:, 3] == 1.0)
    c = X0[eye_l].mean(0)
    Rg = euler_to_matrix(25.0, -10.0, 0.0)
    assert np.allclose(Xg[eye_l] - c, (X0[eye_l] - c) @ Rg.T, atol=1e-6)  # the eyeball turns about its centre
    assert np.allclose(Xg[skull], X0[skull], atol=1e-6)  # the eyelids do not follow (FLAME's don't either)
    neck = np.flatnonzero(model.weights[:, 0] == 1.0)  # but pose correctives respond to every joint
    assert np.abs(Xg[neck] - X0[neck]).max() > 1e-4 and np.abs(Xj[neck] - X0[neck]).max() > 1e-4
    with pytest.raises(ValueError, match="'browRaise': expected exp000..exp099 or jawOpen"):
        model.pose(ident, [{"browRaise": 1.0}], [(0, 0)], [np.eye(3)])


def test_eyeball_parts_and_coordinates(model):
    eyes = np.flatnonzero(model.face_parts == 1)
    assert len(eyes) == 2 * (SEGMENTS // 2) * SEGMENTS * 2  # both fake eyeballs, every triangle
    ec = model.vertex_attributes["eye_coords"]
    ids = np.unique(model.faces[eyes])
    assert np.allclose(np.linalg.norm(ec[ids], axis=1), 1.0, atol=1e-6)
    pupil = ids[np.argmax(ec[ids, 2])]  # +z through the pupil: the eyeball point nearest the camera
    assert model.v_template[pupil, 2] == pytest.approx(model.v_template[ids, 2].max())


# ---------------------------------------------------------------------------------- config and CLI
def test_flame_is_registered_and_its_keys_are_checked():
    assert "flame" in registry.names()
    with pytest.raises(ConfigError, match=r"head.model_path: expected a file ending in .pkl or .npz \(got 'm.obj'\)"):
        resolve("test", ["head.model=flame", "head.model_path=m.obj"])
    with pytest.raises(ConfigError, match="head.shape_components: Input should be less than or equal to 300"):
        resolve("test", ["head.model=flame", "head.shape_components=301"])


@pytest.mark.parametrize("sets, message", [
    ([], "head.model_path: head.model flame needs this file"),
    (["head.model_path=/nowhere/generic_model.pkl", "head.landmarks_path=/nowhere/l.npy"],
     "head.model_path: /nowhere/generic_model.pkl: no such file"),
])
def test_cli_without_the_files_is_one_line_exit_2_nothing_written(tmp_path, capsys, sets, message):
    from relhead.cli import main

    out = tmp_path / "out"
    args = ["render", "--pipeline", "test", "--out", str(out), "--set", "head.model=flame"]
    code = main(args + [x for s in sets for x in ("--set", s)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"relhead: config error: {message}")
    assert not out.exists()


@pytest.mark.parametrize("which", ["model_path", "landmarks_path"])
def test_cli_refuses_a_bad_model_file_before_writing_anything(tmp_path, capsys, files, which):
    """A refused or malformed head file is found before the corpus folder exists, not once shards
    render (when the manifest written by then blocks the folder)."""
    from relhead.cli import main

    bad = tmp_path / ("evil.pkl" if which == "model_path" else "evil.npy")
    if which == "model_path":
        bad.write_bytes(pickle.dumps({"v_template": _Evil()}, protocol=2))
    else:
        np.save(bad, np.zeros((51, 3)))  # a 51-point embedding: no jaw contour
    sets = flame_sets(files, f"head.{which}={bad}")
    out = tmp_path / "out"
    code = main(["render", "--pipeline", "test", "--out", str(out), *[x for s in sets for x in ("--set", s)]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"relhead: config error: head.{which} ({bad.name}): "), err
    assert not out.exists()


def test_model_files_are_assets_not_config(tmp_path, files):
    """The same files at two paths (two hosts): same config hash, same portable config without
    paths, same manifest assets and one built model; another file is another asset."""
    from relhead.datasets.generate import corpus_assets

    cfgs = []
    for host in ("a", "b"):
        d = tmp_path / host / "flame"
        d.mkdir(parents=True)
        for k in ("pkl", "lmk"):
            shutil.copy(files[k], d / files[k].name)
        cfgs.append(resolve("test", ["head.model=flame", f"head.model_path={d / 'model.pkl'}",
                                     f"head.landmarks_path={d / 'landmark_embedding.npy'}"]))
    a, b = cfgs
    assert a.hash() == b.hash() and a.portable_dict() == b.portable_dict()
    assert a.portable_dict()["head"]["model_path"] is None and str(tmp_path) not in json.dumps(a.portable_dict())
    assets = corpus_assets(a)
    assert assets == corpus_assets(b) and str(tmp_path) not in json.dumps(assets)
    assert set(assets["head"]) == {"model_path", "landmarks_path"}
    assert assets["head"]["model_path"]["name"] == "model.pkl"
    assert registry.get_head_model(a.head) is registry.get_head_model(b.head)
    (tmp_path / "b" / "flame" / "model.pkl").write_bytes(files["npz"].read_bytes()[:-1] + b"x")
    assert corpus_assets(b)["head"]["model_path"]["sha256"] != assets["head"]["model_path"]["sha256"]


# ---------------------------------------------------------------------------------- render (slow)
@pytest.mark.slow
def test_flame_renders_through_the_real_pipeline(tmp_path, files):
    """A tiny corpus from the self-made FLAME files verifies and its masks are the projected mesh."""
    from relhead.datasets.generate import generate
    from relhead.datasets.shards import iter_groups
    from relhead.datasets.verify import verify_corpus
    from test_render import mask_ious

    cfg = resolve("test", flame_sets(files, "views=2", "image.width=96", "image.height=96",
                                     "head.expression.neutral_fraction=0"))
    out = tmp_path / "flame"
    generate(cfg, out, log=lambda *_: None)
    assert verify_corpus(out, progress=False) == ([], [])
    groups = list(iter_groups(sorted(out.glob("shard-*.tar"))))
    assert groups[0].spec().head.model == "flame" and groups[0].spec().views[0].expression
    manifest = json.loads((out / "manifest.json").read_text())
    assert str(tmp_path) not in json.dumps(manifest) and manifest["assets"]["head"]["model_path"]["name"] == "model.pkl"
    assert min(mask_ious(groups, registry.get_head_model(cfg.head))) >= 0.98


def _two_tone_sky(folder):
    """An HDRI whose upper half is a bright sky and lower half a dark ground (an EXR written by bpy)."""
    import bpy

    folder.mkdir(parents=True, exist_ok=True)
    w, h = 64, 32
    px = np.zeros((h, w, 4), np.float32)
    px[..., 3] = 1.0
    px[h // 2:, :, :3] = 2.0  # Blender's rows run bottom to top: the upper half is the sky
    px[: h // 2, :, :3] = 0.02
    img = bpy.data.images.new("two_tone", w, h, float_buffer=True)
    img.pixels.foreach_set(px.ravel())
    img.filepath_raw = str(folder / "two_tone.exr")
    img.file_format = "OPEN_EXR"
    img.save()
    bpy.data.images.remove(img)


@pytest.mark.slow
def test_the_hdri_sky_is_over_the_head_for_flame_as_for_anny(tmp_path, files):
    """FLAME's world is y-up, Anny's z-up: with the head upright and the camera level, the background
    above the head is the map's sky and below it the ground, for both (the map turned by world_up)."""
    from relhead.datasets.generate import generate
    from relhead.datasets.shards import iter_groups

    _two_tone_sky(tmp_path / "skies")
    common = ["views=2", "image.width=64", "image.height=64", "lighting.background=hdri", "lighting.hdris=user",
              f"lighting.hdri_dir={tmp_path / 'skies'}", "pose.yaw_deg=[-20,20]", "pose.pitch_deg=[0,0]",
              "pose.roll_deg=[0,0]", "camera.lookat_jitter=0", "camera.principal_jitter=0"]
    for name, sets in (("flame", flame_sets(files, *common)), ("anny", common)):
        out = tmp_path / name
        generate(resolve("test", sets), out, log=lambda *_: None)
        for g in iter_groups(sorted(out.glob("shard-*.tar"))):
            for i in range(len(g.views)):
                rgb, mask = g.image(i).astype(float), g.mask(i) > 0
                top, bottom = rgb[:6][~mask[:6]].mean(), rgb[-6:][~mask[-6:]].mean() if (~mask[-6:]).any() else 0.0
                assert top > 150 and top > bottom + 100, (name, i, top, bottom)


# ---------------------------------------------------------------------------------- another CPU
POSED_DIGEST = """
import hashlib, sys
import numpy as np
from relhead.assets.flame_head import FlameHead
from relhead.config import resolve
from relhead.render.group import posed_heads
from relhead.render.labels import label_views
from relhead.render.sampling import sample_group
from relhead.assets.hdri import hdri_pool
model = FlameHead(sys.argv[1], sys.argv[2])
cfg = resolve("test", ["head.model=flame", f"head.model_path={sys.argv[1]}", f"head.landmarks_path={sys.argv[2]}",
                       "views=4", "head.expression.neutral_fraction=0"])
refs = hdri_pool(cfg.lighting.hdris, cfg.lighting.hdri_dir).refs
h = hashlib.sha256()
for g in range(12):
    spec = sample_group(cfg, g, model, refs)
    posed = posed_heads(spec, model)
    for p, lab in zip(posed, label_views(spec, posed, model.head_width(spec.head.identity), 160, 160)):
        for a in (p.vertices, p.T_world_head, p.landmarks, lab.R, lab.t, lab.landmarks, lab.R_w2c, lab.t_w2c):
            h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


@needs_avx512
def test_flame_poses_and_labels_are_the_same_bits_on_an_avx2_host(files):
    """FLAME's shape, expression and pose blends, its skinning and every label of 12 groups x 4 views, here and
    as an AVX2 host computes (tests/cpu.py): the same bits."""
    def run(env):
        r = subprocess.run([sys.executable, "-c", POSED_DIGEST, str(files["pkl"]), str(files["lmk"])],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout
    assert run(avx2_host_env()) == run(native_env())
