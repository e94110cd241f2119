"""Tiny datasets written in the exact on-disk formats of the official releases (for the loader tests).

Every image is a flat colour chosen from its position, so a test can tell which file a decoded
image came from and that channels, crops and order survived.
"""

from __future__ import annotations

import io
import re
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


def truncated_message(what: str, advice: str) -> str:
    """Regex of a loader's whole message for a truncated file: ``"<what> is truncated or damaged (<reason>); <advice>"``."""
    return "^" + re.escape(f"{what} is truncated or damaged (") + r".+" + re.escape(f"); {advice}") + "$"


def truncate(path: Path, keep: float) -> None:
    """Cut ``path`` to the first ``keep`` share of its bytes."""
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def real_data_dir() -> Path | None:
    """The shared real data: ``$COURSE_TEST_DATA_DIR``, else ``../shared/data`` beside the checkout."""
    folder = Path(os.environ.get("COURSE_TEST_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    return folder if folder.is_dir() else None


def colour(i: int) -> tuple[int, int, int]:
    """A distinct flat colour for the ``i``-th fixture image."""
    return (30 + 25 * i % 200, 220 - 15 * i % 180, 60 + 40 * i % 160)


def jpeg(size: tuple[int, int], rgb: tuple[int, int, int], *, band: tuple[int, int, int] | None = None,
         band_rows: int = 0) -> bytes:
    """A JPEG of ``size`` (width, height) filled with ``rgb``; ``band`` paints the top and bottom ``band_rows``."""
    array = np.empty((size[1], size[0], 3), dtype=np.uint8)
    array[:] = rgb
    if band is not None and band_rows:
        array[:band_rows] = band
        array[-band_rows:] = band
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95, subsampling=0)  # 4:4:4: sharp band edges
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# UTKFace: UTKFace.tar.gz with a top folder UTKFace/
# ----------------------------------------------------------------------------------------------

UTK_KEPT = {  # name: (age, gender, race)
    "19_0_0_20170116000000001.jpg.chip.jpg": (19, 0, 0),
    "20_1_1_20170116000000002.jpg.chip.jpg": (20, 1, 1),
    "39_1_2_20170116000000003.jpg.chip.jpg": (39, 1, 2),
    "40_0_3_20170116000000004.jpg.chip.jpg": (40, 0, 3),
    "60_1_4_20170116000000005.jpg.chip.jpg": (60, 1, 4),
    "8_0_2_20170116000000006.jpg.chip.jpg": (8, 0, 2),
    "116_1_0_20170116000000007.jpg.chip.jpg": (116, 1, 0),
    "24_0_1_20170116220224657 .jpg.chip.jpg": (24, 0, 1),  # stray space: kept
    "55_0_0_20170116232725357jpg.chip.jpg": (55, 0, 0),  # missing dot: kept
}
UTK_MALFORMED = (  # no race field: skipped
    "39_1_20170116174525125.jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",
    "61_1_20170109150557335.jpg.chip.jpg",
)
UTK_NAMES = tuple(UTK_KEPT) + UTK_MALFORMED


def utk_images(names=UTK_NAMES) -> dict[str, bytes]:
    """``{file name: 200x200 JPEG}``, each a flat colour ``colour(position in UTK_NAMES)``."""
    return {name: jpeg((200, 200), colour(UTK_NAMES.index(name) if name in UTK_NAMES else 99)) for name in names}


def write_utkface_archive(root: Path, files: dict[str, bytes] | None = None) -> Path:
    """Write ``root/UTKFace.tar.gz`` as the official one: a ``UTKFace/`` folder entry, then the JPEGs."""
    files = utk_images() if files is None else files
    root.mkdir(parents=True, exist_ok=True)
    path = root / "UTKFace.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo("UTKFace")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(f"UTKFace/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_utkface_folder(root: Path, files: dict[str, bytes] | None = None) -> Path:
    """Write the extracted folder ``root/UTKFace/``."""
    files = utk_images() if files is None else files
    folder = root / "UTKFace"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


# ----------------------------------------------------------------------------------------------
# CIFAR-10: cifar-10-batches-py/ with pickled dicts whose keys are bytes (as Python 2 wrote them)
# ----------------------------------------------------------------------------------------------

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_PER_BATCH = 3
CIFAR_TEST = 4


def cifar_image(k: int) -> np.ndarray:
    """Image ``k`` as a CIFAR row: 1024 red, 1024 green, 1024 blue values, each plane flat."""
    return np.repeat(np.array(colour(k), dtype=np.uint8), 1024)


def cifar_label(k: int) -> int:
    return (3 * k + 1) % 10


def _cifar_batch(first: int, n: int, label: str) -> dict:
    return {b"batch_label": label.encode(),
            b"labels": [cifar_label(k) for k in range(first, first + n)],
            b"data": np.stack([cifar_image(k) for k in range(first, first + n)]),
            b"filenames": [f"image_{k:05d}.png".encode() for k in range(first, first + n)]}


def write_cifar10(root: Path) -> Path:
    """``root/cifar-10-batches-py/``: 5 train batches of 3 images (images 0-14), a test batch of 4 (15-18)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{b}": _cifar_batch((b - 1) * CIFAR_PER_BATCH, CIFAR_PER_BATCH,
                                               f"training batch {b} of 5") for b in range(1, 6)}
    batches["test_batch"] = _cifar_batch(5 * CIFAR_PER_BATCH, CIFAR_TEST, "testing batch 1 of 1")
    batches["batches.meta"] = {b"num_cases_per_batch": CIFAR_PER_BATCH, b"num_vis": 3072,
                               b"label_names": [c.encode() for c in CIFAR_CLASSES]}
    for name, content in batches.items():
        with open(folder / name, "wb") as fh:
            pickle.dump(content, fh, protocol=2)
    return folder


# ----------------------------------------------------------------------------------------------
# CelebA: celeba/img_align_celeba/*.jpg (178x218), list_attr_celeba.txt, list_eval_partition.txt
# ----------------------------------------------------------------------------------------------

CELEBA_ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()
CELEBA_PARTITION = (0, 0, 0, 0, 0, 1, 2, 2)  # images 000001-000005 train, 000006 valid, 000007-000008 test
CELEBA_BAND = (0, 0, 255)  # top and bottom 20 rows, cut by the center crop


def celeba_name(i: int) -> str:
    return f"{i + 1:06d}.jpg"


def celeba_value(i: int, attribute: str) -> int:
    """The +-1 value of ``attribute`` for image ``i``: Blond_Hair, Male and Young follow set patterns."""
    pattern = {"Blond_Hair": i % 2 == 0, "Male": i % 3 == 0, "Young": i < 4}
    on = pattern.get(attribute, (i + CELEBA_ATTRS.index(attribute)) % 5 == 0)
    return 1 if on else -1


def write_celeba(root: Path, *, newline: str = "\n") -> Path:
    """``root/celeba/`` with 8 images of 178x218 and the two lists, formatted as the official ones."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    n = len(CELEBA_PARTITION)
    for i in range(n):
        data = jpeg((178, 218), colour(i), band=CELEBA_BAND, band_rows=20)
        (folder / "img_align_celeba" / celeba_name(i)).write_bytes(data)
    rows = [f"{celeba_name(i)} " + " ".join(f"{celeba_value(i, a):2d}" for a in CELEBA_ATTRS) for i in range(n)]
    attr = [str(n), " ".join(CELEBA_ATTRS) + " ", *rows]
    (folder / "list_attr_celeba.txt").write_bytes((newline.join(attr) + newline).encode())
    partition = [f"{celeba_name(i)} {p}" for i, p in enumerate(CELEBA_PARTITION)]
    (folder / "list_eval_partition.txt").write_bytes((newline.join(partition) + newline).encode())
    return folder
