"""The camera model of a view (config `effects.photo_fraction`, spec `ViewSpec.photo`): what a real camera does
to the light after the lens forms the image, applied to the rendered 8-bit image before it is stored.

In this order, on the linear signal (the rendered sRGB image decoded):

1. lens softness: a Gaussian blur of `softness_px` (sigma, pixels);
2. exposure and white balance: the signal times 2 ** `exposure_ev` and per-channel gains;
3. sensor noise: shot noise (Poisson, as a Gaussian of variance `shot_noise` x signal) and read noise
   (Gaussian, standard deviation `read_noise`), per pixel and channel, from the view's `seed`;
4. clipping to the sensor's range and sRGB encoding;
5. the camera's picture style: an S-shaped tone curve (`contrast`: 0 none .. 1 smoothstep; config
   `effects.picture_contrast`) and `saturation` (`effects.picture_saturation`) about each pixel's grey,
   on the encoded values, then 8 bits. Blender's Filmic and AgX views leave a flat, low-contrast image
   meant for grading; a camera's JPEG engine does not;
6. JPEG compression at `jpeg_quality` (PIL, 4:2:0 chroma as cameras and phones store it), decoded again.

Blender's compositor effects (config `effects.fraction`: its Sensor Noise, Vignette and Chromatic
Aberration groups) run before this, in the render. Everything here is elementwise numpy, scipy's
separable Gaussian filter and libjpeg, one thread: the same bytes on any host and worker count.
The mask is the render's and does not change.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from relhead.exact import power
from relhead.render.spec import PhotoSpec


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, power(np.maximum(x + 0.055, 0.0) / 1.055, 2.4))


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * power(x, 1 / 2.4) - 0.055)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """`rgb` (H, W, 3) uint8 through a JPEG file at `quality` and back."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality), subsampling="4:2:0", optimize=False)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def develop(rgb: np.ndarray, p: PhotoSpec) -> np.ndarray:
    """A rendered view (H, W, 3) uint8 as the view's camera (`p`) records it: (H, W, 3) uint8."""
    lin = srgb_to_linear(rgb.astype(np.float64) / 255.0)
    if p.softness_px > 0:
        lin = np.stack([gaussian_filter(lin[..., c], p.softness_px, mode="nearest", truncate=3.0)
                        for c in range(3)], -1)
    lin = lin * (2.0 ** p.exposure_ev) * np.asarray(p.white_balance, np.float64)
    rng = np.random.default_rng(p.seed)
    sigma = np.sqrt(p.shot_noise * np.clip(lin, 0.0, None) + p.read_noise ** 2)
    lin = lin + sigma * rng.standard_normal(lin.shape)
    x = linear_to_srgb(lin)
    x = (1.0 - p.contrast) * x + p.contrast * (x * x * (3.0 - 2.0 * x))
    grey = (x[..., 0] + x[..., 1] + x[..., 2])[..., None] / 3.0
    x = np.clip(grey + p.saturation * (x - grey), 0.0, 1.0)
    return jpeg(np.round(x * 255.0).astype(np.uint8), p.jpeg_quality)
