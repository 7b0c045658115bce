"""From plate pixels to model inputs and back: matte dilation, colour, padding, resizing, tensor layout.

Every step here reproduces a line of the official ``test.py`` (see ``../shared/parity/README.md``, case 3): the
matte is binarised then dilated with a 3x3 cross four times (``cv2.dilate``), frames become ``u8 / 255 * 2 - 1``,
holes are zeroed, E2FGVI-HQ inputs are padded by mirroring (symmetric, *not* reflect) to multiples of 60 x 108,
and predictions come back as ``(pred + 1) / 2 * 255`` in float32 before the uint8 truncation of the composite.

Plates that are not 8-bit (EXR, 16-bit TIFF/PNG) are converted to display-referred float32 in [0, 1] first
(scene-linear EXR through ``e2fgvi_core.io.colour``) and never quantised to 8 bits.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from e2fgvi_core.errors import SequenceError
from e2fgvi_core.io.colour import ColourTransform, build_colour_transform

_CROSS_3X3 = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def dilate_hole(matte: np.ndarray, iterations: int = 4) -> np.ndarray:
    """(h, w) bool matte -> (h, w) bool hole: ``cv2.dilate`` with a 3x3 cross, ``iterations`` times (official)."""
    binary = np.ascontiguousarray(matte, dtype=np.uint8)
    return cv2.dilate(binary, _CROSS_3X3, iterations=iterations).astype(bool)


def is_quantised(pixels: np.ndarray) -> bool:
    """8-bit plates follow the official uint8 protocol (truncating composite and blend); others stay float."""
    return pixels.dtype == np.uint8


def to_display(
    pixels: np.ndarray,
    rgb: tuple[int, int, int],
    linear: bool,
    colour: ColourTransform | None = None,
    nan_policy: str = "zero",
    where: str = "frame",
    on_warning=None,
) -> np.ndarray:
    """The RGB of a plate as the model sees it.

    Returns (h, w, 3) uint8 for 8-bit plates (as they are), otherwise float32 display-referred values: integer
    plates scaled to [0, 1], float plates converted from scene-linear when ``linear`` (through ``colour``, an
    ``io.colour`` transform; the sRGB curve when None). Non-finite values are replaced by 0 with a warning
    (``nan_policy="zero"``; reported through ``on_warning`` or ``warnings``) or refused (``"error"``); outside the
    matte they still go out untouched.
    """
    rgb_pixels = pixels[..., list(rgb)]
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(rgb_pixels)
    if np.issubdtype(pixels.dtype, np.integer):
        return rgb_pixels.astype(np.float32) / float(np.iinfo(pixels.dtype).max)
    values = rgb_pixels.astype(np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        count = int(bad.any(axis=-1).sum())
        if nan_policy == "error":
            raise SequenceError(f"{where}: {count} pixels hold NaN or Inf; fix the plate or use nan_policy=zero")
        message = (
            f"{where}: {count} pixels hold NaN or Inf; the model reads them as 0 (outside the matte they are "
            f"written back unchanged, inside it they are replaced by the fill)"
        )
        if on_warning is not None:
            on_warning(message)
        else:
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        values = np.where(bad, np.float32(0), values)
    if linear:
        values = (colour or build_colour_transform()).to_display(values)
    return values.astype(np.float32)


def symmetric_pad(array: np.ndarray, multiple_hw: tuple[int, int], axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Mirror-pad two axes up to the next multiples, as ``cat([x, flip(x)])[:size]`` in ``test.py``.

    The padded row ``H`` repeats row ``H - 1`` (numpy ``symmetric``). When the pad exceeds the image (tiny frames),
    numpy keeps mirroring where the official code would come up short.
    """
    pads = [(0, 0)] * array.ndim
    for axis, multiple in zip(axes, multiple_hw):
        size = array.shape[axis]
        pads[axis] = (0, (multiple - size % multiple) % multiple)
    if all(p == (0, 0) for p in pads):
        return array
    return np.pad(array, pads, mode="symmetric")


def resize_display(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resize an (h, w, 3) frame like PIL's ``Image.resize`` default (bicubic, antialiased) in ``test.py``.

    8-bit frames go through Pillow when it is installed (bit-identical to the official script); otherwise, and for
    float frames, OpenCV's area filter when shrinking / bicubic when enlarging (close, not bit-identical).
    """
    if image.shape[1] == size_wh[0] and image.shape[0] == size_wh[1]:
        return image
    if image.dtype == np.uint8:
        try:
            from PIL import Image
        except ImportError:
            pass
        else:
            return np.array(Image.fromarray(np.ascontiguousarray(image)).resize(size_wh, Image.BICUBIC))
    shrinking = size_wh[0] < image.shape[1] or size_wh[1] < image.shape[0]
    return cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def resize_matte(matte: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resize a bool matte with nearest-neighbour sampling at pixel centres (PIL ``NEAREST`` = cv2 ``EXACT``)."""
    if matte.shape[1] == size_wh[0] and matte.shape[0] == size_wh[1]:
        return matte
    resized = cv2.resize(matte.astype(np.uint8), size_wh, interpolation=cv2.INTER_NEAREST_EXACT)
    return resized.astype(bool)


def resize_prediction(pred: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Upsample an (h, w, 3) float32 prediction back to plate resolution (bicubic; used by proxy and ``e2fgvi``)."""
    if pred.shape[1] == size_wh[0] and pred.shape[0] == size_wh[1]:
        return pred
    return cv2.resize(pred, size_wh, interpolation=cv2.INTER_CUBIC)


def to_model_input(display: np.ndarray, hole: np.ndarray):
    """(h, w, 3) display frame + (h, w) bool hole -> (3, h, w) float32 torch tensor in [-1, 1], 0 in the hole.

    Computed in float32 exactly as ``test.py``: ``u8.float().div(255) * 2 - 1`` then ``* (1 - mask)``.
    """
    import torch

    if display.dtype == np.uint8:
        x = torch.from_numpy(np.ascontiguousarray(display)).permute(2, 0, 1).float().div(255)
    else:
        x = torch.from_numpy(np.ascontiguousarray(np.clip(display, 0.0, 1.0), dtype=np.float32)).permute(2, 0, 1)
    x = x * 2 - 1
    keep = 1 - torch.from_numpy(np.ascontiguousarray(hole, dtype=np.float32))[None]
    return x * keep


def prediction_to_display(pred) -> np.ndarray:
    """(n, 3, h, w) torch output in [-1, 1] -> (n, h, w, 3) float32 numpy in [0, 1]: ``(pred + 1) / 2`` as ``test.py``.

    The official ``* 255`` is left to the composite (``to_official_scale``), done in numpy float32 exactly as the
    script does, so the uint8 truncation sees the very same numbers.
    """
    pred = (pred + 1) / 2
    return pred.permute(0, 2, 3, 1).cpu().numpy()


def to_official_scale(pred: np.ndarray) -> np.ndarray:
    """[0, 1] float32 prediction -> [0, 255] float32, the official ``numpy * 255``."""
    return pred * 255
