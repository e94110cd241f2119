"""The renderer of the synthetic CelebA-like faces: attributes in, small RGB images out.

:mod:`course_lib.data.synthetic` decides who is in the data (the CelebA mix of Blond, Male and
Young, the noisy and atypical examples); this module draws them. Every face is a head on a
background with hair, eyes and lips, stubble on men, wrinkles on old faces, under a random
illumination and pixel noise; the atypical renderings turn, occlude or recolour it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..core.validation import check_integer, check_real

# Colours (RGB in [0, 1]) of the renderer.
_DARK_HAIR = np.array([0.10, 0.07, 0.05], dtype=np.float32)
_BLOND_HAIR = np.array([0.93, 0.80, 0.48], dtype=np.float32)
_LIGHT_SKIN = np.array([0.96, 0.82, 0.72], dtype=np.float32)
_DARK_SKIN = np.array([0.36, 0.23, 0.16], dtype=np.float32)
_STUBBLE = np.array([0.16, 0.13, 0.11], dtype=np.float32)
_EYES = np.array([0.08, 0.06, 0.06], dtype=np.float32)
_LIPS = np.array([0.62, 0.26, 0.28], dtype=np.float32)
_NON_BLOND_TONE = 0.2  # mean hair tone of non-blond people on the dark (0) to blond (1) axis
_UNUSUAL_SKIN = np.array([[0.30, 0.75, 0.35], [0.30, 0.45, 0.90], [0.62, 0.35, 0.80]], dtype=np.float32)
_WRINKLE_PERIOD = 0.19  # in the [-1, 1] image coordinates: 3 pixels at 32x32
_CHUNK = 256  # images rendered at once


@dataclass(frozen=True)
class RenderOptions:
    """The settings of a pool besides its size and seed (see :func:`~course_lib.data.synthetic.load_synthetic_celeba`)."""

    image_size: int
    hair_shift: float
    hair_spread: float
    pixel_noise: float
    illumination: float
    beard_strength: float
    age_texture: float
    noisy_rate: float
    atypical_rate: float

    def check(self) -> None:
        """Raise ``TypeError`` or ``ValueError``, naming the option, if one has the wrong type or range."""
        check_integer(self.image_size, "image_size", low=16)
        for name in ("hair_shift", "hair_spread", "pixel_noise", "beard_strength", "age_texture"):
            check_real(getattr(self, name), name, low=0, high=float("inf"), closed="left")
        check_real(self.illumination, "illumination", low=0, high=1, closed="left")
        for name in ("noisy_rate", "atypical_rate"):
            check_real(getattr(self, name), name, low=0, high=0.5, closed="left")


def render(table: pd.DataFrame, rng: np.random.Generator, options: RenderOptions) -> torch.Tensor:
    """Draw the faces of ``table`` (needs ``true_blond``, ``male``, ``young`` and ``rendering``).

    Returns ``uint8`` images ``(len(table), 3, S, S)`` with ``S = options.image_size``.
    """
    params = _appearance(table, rng, options)
    size = options.image_size
    images = np.empty((len(table), 3, size, size), dtype=np.uint8)
    for start in range(0, len(table), _CHUNK):
        chunk = {key: value[start:start + _CHUNK] for key, value in params.items()}
        images[start:start + _CHUNK] = _draw(chunk, options, rng)
    return torch.from_numpy(images)


def _appearance(table: pd.DataFrame, rng: np.random.Generator, options: RenderOptions) -> dict[str, np.ndarray]:
    """Per-face parameters of the drawing: float32 arrays ``(n,)``, or ``(n, 3)`` for colours."""
    n = len(table)
    kind, male = table["rendering"].to_numpy(), table["male"].to_numpy()

    def uniform(low: float, high: float, *shape: int) -> np.ndarray:
        return rng.uniform(low, high, size=(n, *shape)).astype(np.float32)

    def cool(colours: np.ndarray) -> np.ndarray:  # blue >= red, unlike hair and skin
        colours[:, [0, 2]] = np.sort(colours[:, [0, 2]], axis=1)
        return colours

    def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (a + (b - a) * t[:, None]).astype(np.float32)

    tone = (_NON_BLOND_TONE + options.hair_shift * table["true_blond"].to_numpy()
            + options.hair_spread * rng.standard_normal(n))
    skin = lerp(_LIGHT_SKIN, _DARK_SKIN, uniform(0, 1)) + uniform(-0.03, 0.03, 3)
    recoloured = kind == "recoloured"
    skin[recoloured] = _UNUSUAL_SKIN[rng.integers(len(_UNUSUAL_SKIN), size=recoloured.sum())]
    rx = uniform(0.40, 0.52)
    params = {
        "cx": uniform(-0.12, 0.12), "cy": uniform(-0.02, 0.18), "rx": rx, "ry": rx * uniform(1.15, 1.4),
        "hair": lerp(_DARK_HAIR, _BLOND_HAIR, tone) + uniform(-0.04, 0.04, 3),
        "hair_length": np.where(male, uniform(-0.3, 0.1), uniform(0.0, 1.0)),
        "hair_volume": np.where(male, uniform(0.3, 0.6), uniform(0.8, 1.2)),
        "fringe": np.where(male, uniform(0.6, 0.8), uniform(0.35, 0.65)),
        "skin": skin, "background": cool(uniform(0.05, 0.95, 3)), "gradient": uniform(-0.3, 0.3),
        "clothes": cool(uniform(0.05, 0.95, 3)),
        "beard": options.beard_strength * male * uniform(0.6, 1.0),
        "wrinkles": options.age_texture * ~table["young"].to_numpy() * uniform(0.7, 1.0),
        "gain": 1 + uniform(-options.illumination, options.illumination),
        "occluder": kind == "occluded",
        "occluder_y": rng.choice(np.float32([-0.12, 0.45]), size=n), "occluder_colour": uniform(0.0, 1.0, 3),
        "corruption": np.where(kind == "corrupted", uniform(0.6, 0.85), 0),
        "turns": np.select([kind == "upside-down", kind == "rotated"], [2, 1 + 2 * rng.integers(2, size=n)], 0),
    }
    return {key: value.astype(np.float32) for key, value in params.items()}


def _draw(p: dict[str, np.ndarray], options: RenderOptions, rng: np.random.Generator) -> np.ndarray:
    """Render one chunk of faces from their parameters ``p`` (see :func:`_appearance`).

    Returns ``uint8`` images ``(B, 3, S, S)``. Coordinates run over [-1, 1], ``y`` downwards.
    """
    size = options.image_size
    pixel = 2 / size
    axis = np.linspace(-1 + pixel / 2, 1 - pixel / 2, size, dtype=np.float32)
    ys, xs = axis.reshape(1, size, 1), axis.reshape(1, 1, size)

    def soft(signed: np.ndarray) -> np.ndarray:  # 1 inside (signed > 0), 0 outside, a 1-pixel ramp
        return np.clip(signed * np.float32(1 / pixel) + 0.5, 0, 1)

    def ellipse(cx, cy, rx, ry) -> np.ndarray:
        dist = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
        return soft((1 - dist) * np.minimum(rx, ry))

    def paint(image: np.ndarray, colour: np.ndarray, mask: np.ndarray) -> None:  # in place, no temporaries
        np.subtract(colour.reshape(-1, 3, 1, 1), image, out=scratch)
        np.multiply(scratch, mask[:, None], out=scratch)
        image += scratch

    cx, cy, rx, ry, fringe, beard, wrinkles, gain, occluder, occluder_y, corruption = (
        p[key].reshape(-1, 1, 1) for key in ("cx", "cy", "rx", "ry", "fringe", "beard", "wrinkles", "gain",
                                             "occluder", "occluder_y", "corruption"))
    image = p["background"].reshape(-1, 3, 1, 1) * (1 + p["gradient"].reshape(-1, 1, 1, 1) * ys[:, None])
    image = np.repeat(image, size, axis=3)
    scratch = np.empty_like(image)
    paint(image, p["clothes"], ellipse(cx, 1.05, 1.7 * rx, 0.45))
    hair_length = cy + p["hair_length"].reshape(-1, 1, 1) * ry
    volume = p["hair_volume"].reshape(-1, 1, 1)
    paint(image, p["hair"], ellipse(cx, cy - 0.1 * ry, (1 + 0.25 * volume) * rx, (1 + 0.15 * volume) * ry)
          * soft(hair_length - ys))
    face = ellipse(cx, cy, rx, ry)
    paint(image, p["skin"], face)
    lines = 0.5 + 0.5 * np.cos(2 * np.pi * (ys - cy) / _WRINKLE_PERIOD)
    cheeks = face * soft(ys - (cy - fringe * ry)) * soft(cy + 0.3 * ry - ys)
    image *= (1 - wrinkles * lines * cheeks)[:, None]
    paint(image, _STUBBLE, beard * face * soft(ys - (cy + 0.2 * ry)))
    paint(image, p["hair"], face * soft(cy - fringe * ry - ys))
    eyes = [ellipse(cx + side * 0.38 * rx, cy - 0.1 * ry, 0.08, 0.06) for side in (-1, 1)]
    paint(image, _EYES, np.maximum(*eyes))
    paint(image, _LIPS, ellipse(cx, cy + 0.5 * ry, 0.3 * rx, 0.07))
    paint(image, p["occluder_colour"], occluder * face * soft(0.2 * ry - np.abs(ys - cy - occluder_y * ry)))
    image *= gain[:, None]
    image += options.pixel_noise * rng.standard_normal(image.shape, dtype=np.float32)
    corrupted = p["corruption"] > 0
    image[corrupted] += ((rng.random((corrupted.sum(), *image.shape[1:]), dtype=np.float32) - image[corrupted])
                         * corruption[corrupted, None])
    for k in (1, 2, 3):
        turned = p["turns"] == k
        image[turned] = np.rot90(image[turned], k, axes=(2, 3))
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
