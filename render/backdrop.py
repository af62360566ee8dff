"""Procedural backdrops (config `lighting.backdrop_fraction`, spec `BackdropSpec`): what could stand behind
a person in a photo, drawn from the spec alone, so that no model learns that a face sits on a plain
colour or on one of a few HDRIs.

A backdrop is a wall (or a room's corner, or a wall over a floor) lit unevenly, with a surface texture,
and `shapes` pieces of clutter painted back to front: picture frames and posters, windows with bright
panes, doors and cupboards, shelves of books, lamps and round objects, plants (noise-edged blobs), blinds
and tiles (striped rectangles), pipes and edges; each with its own colour, shading and grain, soft edges,
some in silhouette against a bright window. Its colours are then muted (pulled 20-60% toward grey, as
most surroundings are), and the whole is defocused by `blur` (a share of the
width, as a portrait lens would) and given a fine photographic grain.

Pure numpy (elementwise, a value-noise built from seeded grids) and scipy's Gaussian filter: the same
bytes on any host and worker count. The result is composited behind the subject like a background photo.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from relhead.exact import exp
from relhead.render.spec import BackdropSpec

# Wall and surface colours (sRGB): whites, creams, greys, beiges, pastels, wood, brick, dark paint, concrete.
_WALLS = np.array([[0.92, 0.91, 0.88], [0.88, 0.84, 0.76], [0.75, 0.75, 0.74], [0.80, 0.72, 0.60],
                   [0.70, 0.78, 0.82], [0.78, 0.84, 0.74], [0.90, 0.80, 0.80], [0.55, 0.40, 0.28],
                   [0.62, 0.32, 0.25], [0.30, 0.32, 0.36], [0.58, 0.57, 0.54], [0.20, 0.22, 0.28],
                   [0.85, 0.75, 0.55], [0.45, 0.50, 0.45]])
# Objects: anything, from dark to saturated.
_THINGS = np.array([[0.08, 0.08, 0.09], [0.95, 0.95, 0.93], [0.50, 0.50, 0.52], [0.15, 0.22, 0.40],
                    [0.60, 0.15, 0.12], [0.20, 0.40, 0.22], [0.85, 0.70, 0.30], [0.40, 0.25, 0.15],
                    [0.70, 0.55, 0.40], [0.30, 0.50, 0.60], [0.85, 0.50, 0.55], [0.55, 0.45, 0.65],
                    [0.95, 0.80, 0.10], [0.25, 0.25, 0.22], [0.65, 0.65, 0.55], [0.10, 0.30, 0.30]])
_SKY = np.array([[0.80, 0.88, 0.98], [0.95, 0.95, 0.95], [0.70, 0.80, 0.92], [0.98, 0.92, 0.80]])


def value_noise(rng: np.random.Generator, H: int, W: int, cells: float, octaves: int = 4) -> np.ndarray:
    """Fractal value noise in [0, 1] (about mean 0.5): `octaves` of seeded grids, the first with `cells`
    cells across the larger side, each next twice as fine at half the amplitude, smoothstep-interpolated."""
    out = np.zeros((H, W))
    total = 0.0
    for o in range(octaves):
        n = max(1.0, cells * 2 ** o)
        gh, gw = int(np.ceil(n * H / max(H, W))) + 2, int(np.ceil(n * W / max(H, W))) + 2
        grid = rng.random((gh, gw))
        y = (np.arange(H) + 0.5) / max(H, W) * n
        x = (np.arange(W) + 0.5) / max(H, W) * n
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        ty, tx = y - y0, x - x0
        ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
        a, b = grid[y0][:, x0], grid[y0][:, x0 + 1]
        c, d = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
        top = a + (b - a) * tx[None, :]
        bottom = c + (d - c) * tx[None, :]
        amp = 0.5 ** o
        out += amp * (top + (bottom - top) * ty[:, None])
        total += amp
    return out / total


def _colour(rng: np.random.Generator, palette: np.ndarray, jitter: float = 0.12) -> np.ndarray:
    return np.clip(palette[rng.integers(len(palette))] * rng.uniform(1 - jitter, 1 + jitter, size=3), 0.0, 1.0)


def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """Coverage from a signed distance (negative inside), anti-aliased over `edge` pixels."""
    return np.clip(0.5 - d / max(edge, 1e-6), 0.0, 1.0)


def _shade(rng: np.random.Generator, H: int, W: int) -> np.ndarray:
    """A light gradient across the image: 1 +- a linear ramp in a random direction."""
    a = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:H, 0:W] / max(H, W)
    return 1.0 + rng.uniform(0.0, 0.35) * ((x - 0.5) * np.cos(a) + (y - 0.5) * np.sin(a))


def _paint(img: np.ndarray, cover: np.ndarray, colour: np.ndarray) -> None:
    img *= 1.0 - cover[..., None]
    img += cover[..., None] * colour


def _shape(rng: np.random.Generator, img: np.ndarray, grain: np.ndarray) -> None:
    """One piece of clutter painted onto `img` (H, W, 3, sRGB in [0, 1])."""
    H, W = img.shape[:2]
    S = max(H, W)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    kind = rng.choice(["frame", "window", "door", "shelf", "round", "plant", "stripes", "bar"],
                      p=[0.18, 0.1, 0.1, 0.12, 0.14, 0.14, 0.12, 0.1])
    cx, cy = rng.uniform(-0.1, 1.1) * W, rng.uniform(-0.1, 1.1) * H
    w, h = rng.uniform(0.08, 0.6) * S, rng.uniform(0.08, 0.7) * S
    edge = rng.uniform(0.5, 2.0)
    base = _colour(rng, _THINGS)
    shade = _shade(rng, H, W)[..., None]
    tex = (0.85 + 0.3 * grain[..., None])
    box = np.maximum(np.abs(x - cx) - w / 2, np.abs(y - cy) - h / 2)
    if kind == "frame":  # a picture or poster: a border round an image of noise in other colours
        border = rng.uniform(0.02, 0.12) * min(w, h)
        _paint(img, _soft(box, edge), base * shade * tex)
        inner = box + border
        pic = value_noise(rng, H, W, rng.uniform(2, 8), 3)[..., None]
        c1, c2 = _colour(rng, _THINGS), _colour(rng, _THINGS)
        _paint(img, _soft(inner, edge), (c1 * pic + c2 * (1 - pic)) * shade)
    elif kind == "window":  # bright panes (sky, light) divided by mullions
        sky = _colour(rng, _SKY, 0.05) * rng.uniform(1.0, 1.6)
        glow = value_noise(rng, H, W, 3, 2)[..., None]
        _paint(img, _soft(box, edge), np.clip(sky * (0.8 + 0.4 * glow), 0, 1.5))
        bars = base * 0.8 * shade
        nx, ny = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        t = rng.uniform(0.01, 0.03) * S
        for k in range(1, nx):
            _paint(img, _soft(np.maximum(np.abs(x - (cx - w / 2 + k * w / nx)) - t / 2, box), edge), bars)
        for k in range(1, ny):
            _paint(img, _soft(np.maximum(np.abs(y - (cy - h / 2 + k * h / ny)) - t / 2, box), edge), bars)
        _paint(img, _soft(np.maximum(box, -box - t), edge), bars)
    elif kind == "door":  # a tall panel with a recessed inner panel and a knob
        h = rng.uniform(0.8, 1.6) * S
        box = np.maximum(np.abs(x - cx) - w / 2, np.abs(y - cy) - h / 2)
        _paint(img, _soft(box, edge), base * shade * tex)
        inset = np.maximum(np.abs(x - cx) - w * 0.35, np.abs(y - cy) - h * 0.4)
        _paint(img, 0.5 * _soft(inset, edge), base * shade * 0.75)
        knob = np.hypot(x - (cx + w * 0.38), y - cy) - 0.012 * S
        _paint(img, _soft(knob, edge), _colour(rng, _THINGS[[1, 2, 6]]))
    elif kind == "shelf":  # a board with a row of books (or boxes) of many colours on it
        w = rng.uniform(0.3, 1.2) * S
        top = cy
        book_h = rng.uniform(0.06, 0.2) * S
        board = np.maximum(np.abs(x - cx) - w / 2, np.abs(y - (top + 0.01 * S)) - 0.01 * S)
        left = cx - w / 2
        while left < cx + w / 2:
            bw = rng.uniform(0.01, 0.05) * S
            bh = book_h * rng.uniform(0.7, 1.0)
            book = np.maximum(np.abs(x - (left + bw / 2)) - bw / 2 + 0.5, np.abs(y - (top - bh / 2)) - bh / 2)
            _paint(img, _soft(book, edge), _colour(rng, _THINGS, 0.2) * shade * tex)
            left += bw + rng.uniform(0.0, 0.01) * S
        _paint(img, _soft(board, edge), base * shade * 0.9)
    elif kind == "round":  # a lamp shade, a clock, a ball, a plate: an ellipse lit from one side
        r = np.hypot((x - cx) / (w / 2), (y - cy) / (h / 2 * rng.uniform(0.5, 1.2)))
        d = (r - 1.0) * min(w, h) / 2
        lit = np.clip(1.0 - 0.5 * ((x - cx) / w * rng.uniform(-1, 1) + (y - cy) / h * rng.uniform(-1, 1)), 0.5, 1.5)
        glow = rng.uniform(1.0, 1.6) if rng.random() < 0.3 else 1.0  # a lit lamp
        _paint(img, _soft(d, edge), np.clip(base * lit[..., None] * glow * tex, 0, 1.5))
    elif kind == "plant":  # foliage: a noise-edged blob in greens, darker inside
        n = value_noise(rng, H, W, rng.uniform(6, 16), 4)
        r = np.hypot((x - cx) / (w / 2), (y - cy) / (h / 2))
        d = (r - 1.0 + 0.9 * (n - 0.5)) * min(w, h) / 2
        green = np.clip(np.array([0.15, 0.35, 0.12]) * rng.uniform(0.6, 1.4, size=3), 0, 1)
        leaf = value_noise(rng, H, W, rng.uniform(20, 40), 2)[..., None]
        _paint(img, _soft(d, edge), green * (0.5 + leaf) * shade)
    elif kind == "stripes":  # blinds, tiles, panelling, a striped fabric
        period = rng.uniform(0.01, 0.06) * S
        a = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)])
        u = (x * np.cos(a) + y * np.sin(a)) / period
        c2 = _colour(rng, _THINGS)
        s = (np.sin(2 * np.pi * u) > rng.uniform(-0.6, 0.6)).astype(float)
        s = gaussian_filter(s, 0.6, mode="nearest")[..., None]
        _paint(img, _soft(box, edge), (base * s + c2 * (1 - s)) * shade * tex)
    else:  # a bar: a pipe, a rail, a door frame's edge, a table top
        t = rng.uniform(0.01, 0.08) * S
        a = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)])
        d = np.abs((x - cx) * np.sin(a) - (y - cy) * np.cos(a)) - t / 2
        across = ((x - cx) * np.sin(a) - (y - cy) * np.cos(a)) / max(t, 1e-6)
        _paint(img, _soft(d, edge), base * (1.0 - 0.4 * across[..., None]) * tex)


def backdrop_image(p: BackdropSpec, W: int, H: int) -> np.ndarray:
    """The backdrop of spec `p` at W x H: (H, W, 3) uint8 sRGB."""
    rng = np.random.default_rng(p.seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    S = max(H, W)
    wall = _colour(rng, _WALLS)
    img = np.ones((H, W, 3)) * wall
    # uneven light over the wall: a broad gradient and a soft pool of light
    img *= _shade(rng, H, W)[..., None]
    lx, ly, lr = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(0.3, 1.2) * S
    img *= (1.0 + rng.uniform(0.0, 0.5) * exp(-((x - lx) ** 2 + (y - ly) ** 2) / (2 * lr * lr)))[..., None]
    layout = rng.choice(["wall", "floor", "corner"], p=[0.4, 0.35, 0.25])
    if layout == "floor":  # the wall meets a floor (or a table top) at a horizon
        h0 = rng.uniform(0.55, 0.95) * H
        floor = _colour(rng, _WALLS) * rng.uniform(0.5, 0.9)
        _paint(img, _soft(h0 - y, 1.0), floor * (0.8 + 0.4 * (y - h0) / H)[..., None])
    elif layout == "corner":  # two walls meeting: the other one in shade
        x0 = rng.uniform(0.1, 0.9) * W
        side = x > x0 if rng.random() < 0.5 else x < x0
        img[side] *= rng.uniform(0.55, 0.85)
    # the wall's surface: paint, plaster or concrete, at two scales
    grain = value_noise(rng, H, W, rng.uniform(20, 60) * S / 256, 3)
    blotch = value_noise(rng, H, W, rng.uniform(2, 6), 3)
    img *= (1.0 + rng.uniform(0.02, 0.12) * (grain - 0.5) * 2 + rng.uniform(0.02, 0.15) * (blotch - 0.5) * 2)[..., None]
    for _ in range(p.shapes):
        _shape(rng, img, grain)
    # most real surroundings are muted: pull the colours toward their grey by 20-60%
    grey = img.mean(-1, keepdims=True)
    img = np.clip(grey + rng.uniform(0.4, 0.8) * (img - grey), 0.0, 1.0)
    if p.blur > 0:
        img = np.stack([gaussian_filter(img[..., c], p.blur * W, mode="nearest") for c in range(3)], -1)
    img = img + rng.normal(0.0, rng.uniform(0.002, 0.012), size=img.shape)  # the photo's grain
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
