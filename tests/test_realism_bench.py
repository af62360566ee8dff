"""bench/realism.py's --downsample: a view rendered at N times the size, measured as a camera's image of
the measured size would be (each pixel the mean of N x N), with its face box and landmarks on that image."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))


def test_a_view_shrunk_twice_is_the_mean_of_each_2x2_block_and_its_labels_land_on_the_same_spot():
    import realism

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 12, 3)).astype(np.uint8)
    # A landmark at the centre of rendered pixel (5, 2) lies inside output pixel (2, 1), a quarter pixel
    # from its top left corner's side: x = 5.5 -> 2.75, y = 2.5 -> 1.25.
    view = {"face_box": [2.0, 2.0, 10.0, 6.0], "landmarks": [[5.5, 2.5]] * 68, "euler_deg": {}}
    small, v = realism.downsampled(rgb, view, 2)
    assert small.shape == (4, 6, 3)
    blocks = rgb.reshape(4, 2, 6, 2, 3).astype(float).mean((1, 3))
    assert np.abs(small.astype(float) - blocks).max() <= 1.0  # PIL rounds the mean
    assert v["face_box"] == [1.0, 1.0, 5.0, 3.0]
    assert v["landmarks"][0] == [2.75, 1.25]
    assert view["face_box"] == [2.0, 2.0, 10.0, 6.0]  # the corpus' own view is left as it was
