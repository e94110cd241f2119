"""Helpers shared by the loaders: where the data are, what to say when they are not, and JPEG decoding."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.validation import check_integer
from ..core.config import DATA_DIR_ENV, DataCorruptedError, DataNotFoundError, data_dir

_MIN_SIZE = 8
_CHUNK = 2048  # images handed to the thread pool at a time


def resolve_root(root: str | Path | None) -> Path:
    """The data folder: ``root`` when given, else ``$COURSE_DATA_DIR`` (:func:`~course_lib.core.config.data_dir`)."""
    return Path(root).expanduser().resolve() if root is not None else data_dir()


def check_image_size(image_size: int, *, native: int) -> int:
    """Return ``image_size`` if it is an integer from 8 to ``native`` (no upsampling); raise ``TypeError`` or ``ValueError``."""
    return check_integer(image_size, "image_size", low=_MIN_SIZE, high=native)


def not_found_error(dataset: str, root: Path, expected: str, how_to_get: str) -> DataNotFoundError:
    """A :class:`.DataNotFoundError` naming ``dataset``, the folder searched, the data setting and its value.

    The message reads ``"<dataset> not found in <root>: expected <expected>. Set COURSE_DATA_DIR
    (currently <value>) to the folder that holds them, or pass root=. <how_to_get>"``.
    """
    value = os.environ.get(DATA_DIR_ENV)
    current = repr(value) if value is not None else f"unset, so {data_dir()}"
    return DataNotFoundError(f"{dataset} not found in {root}: expected {expected}. Set {DATA_DIR_ENV} "
                             f"(currently {current}) to the folder that holds them, or pass root=. "
                             f"{how_to_get}")


def _decode_one(data: bytes, image_size: int) -> np.ndarray:
    """One JPEG as ``(image_size, image_size, 3)`` RGB ``uint8``, center-cropped to a square first."""
    with Image.open(io.BytesIO(data)) as opened:
        width, height = opened.size
        scale = image_size / min(width, height)
        opened.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))  # JPEG DCT scaling
        image = opened.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))  # crop first: no filter taps outside it
    return np.asarray(square.resize((image_size, image_size), Image.Resampling.BILINEAR), dtype=np.uint8)


def decode_jpegs(sources: Sequence[bytes | Path], names: Sequence[str], image_size: int, *,
                 where: str) -> torch.Tensor:
    """Decode JPEGs, center-crop each to a square and resize it to ``image_size``.

    Downscaling is antialiased, in two steps. The JPEG decoder first scales the image down by
    1/2, 1/4 or 1/8 in the DCT domain (PIL's :meth:`~PIL.Image.Image.draft` mode), to the
    smallest such size whose short side is still at least ``image_size``; then the centered
    square is resized with PIL's bilinear filter (:meth:`~PIL.Image.Image.resize` with
    ``BILINEAR``, whose support widens with the reduction factor, so it averages rather than
    skips pixels, as ``torchvision.transforms.Resize`` does on PIL images). The first step makes
    decoding about three times faster; compared with full decoding followed by the same resize,
    it changes pixels by less than 1/255 on average (UTKFace, 32 and 64 pixels). Images are
    decoded in a thread pool (Pillow releases the GIL while decoding).

    Parameters
    ----------
    sources : sequence of bytes or Path
        The encoded JPEGs, or the files holding them (read in the pool).
    names : sequence of str
        One name per source, used in error messages.
    image_size : int
        Side of the output images, in pixels.
    where : str
        What holds the images (e.g. the archive's path), for error messages.

    Returns
    -------
    torch.Tensor
        Shape ``(N, 3, image_size, image_size)``, ``uint8`` RGB.

    Raises
    ------
    DataCorruptedError
        Naming the first image that cannot be read or decoded.
    """
    out = np.empty((len(sources), image_size, image_size, 3), dtype=np.uint8)

    def work(i: int) -> None:
        source = sources[i]
        try:
            out[i] = _decode_one(source.read_bytes() if isinstance(source, Path) else source, image_size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise DataCorruptedError(f"{where}: image {names[i]} cannot be decoded ({err}); "
                                     "the file is damaged: replace it or download the dataset again") from None

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, len(sources), _CHUNK):
            for _ in pool.map(work, range(start, min(start + _CHUNK, len(sources)))):
                pass
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
