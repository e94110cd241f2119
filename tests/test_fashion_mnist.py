from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data_dir
from course_lib import data
from course_lib.data import fashion_mnist
from course_lib.core.config import DataCorruptedError, DataNotFoundError


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def make_fixture(root: Path, *, n_train: int = 6, n_test: int = 4, gz: bool = True) -> Path:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), gz=gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, gz=gz)
    return raw


@pytest.mark.parametrize("gz", [True, False])
def test_reads_official_idx_files(tmp_path: Path, gz: bool):
    make_fixture(tmp_path, gz=gz)
    train = data.load("fashion-mnist", root=tmp_path, download=False)
    assert train.images.shape == (6, 1, 28, 28) and train.images.dtype.is_floating_point
    assert 0 <= float(train.images.min()) and float(train.images.max()) <= 1
    assert train.targets.tolist() == [0, 1, 2, 3, 4, 5]
    assert train.classes[9] == "Ankle boot"
    assert list(train.example_ids[:2]) == ["train-00000", "train-00001"]
    both = data.load("fashion-mnist", split="all", root=tmp_path, download=False)
    assert len(both) == 10 and list(both.example_ids[-1:]) == ["test-00003"]


def test_missing_data_names_the_setting(tmp_path: Path):
    with pytest.raises(DataNotFoundError) as err:
        data.load("fashion-mnist", root=tmp_path, download=False)
    message = str(err.value)
    assert message.startswith(
        f"Fashion-MNIST not found in {tmp_path.resolve()}: expected FashionMNIST/raw/ with train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz. Set COURSE_DATA_DIR (currently ")
    assert message.endswith(f"to the folder that holds them, or pass root=. {fashion_mnist.HOW_TO_GET}")
    assert "download=True" in message and "https://github.com/zalandoresearch/fashion-mnist" in message


def test_failed_download_still_gives_the_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DataNotFoundError, match="Fashion-MNIST not found"):
        data.load("fashion-mnist", root=tmp_path, download=True)


def test_truncated_file_is_reported_by_name(tmp_path: Path):
    raw = make_fixture(tmp_path)
    path = raw / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataCorruptedError, match=rf"Fashion-MNIST file {path} is truncated or damaged"):
        data.load("fashion-mnist", root=tmp_path, download=False)


def test_header_that_disagrees_with_the_size_is_reported(tmp_path: Path):
    raw = make_fixture(tmp_path, gz=False)
    path = raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataCorruptedError, match=r"header announces 4 items but the file holds 11 bytes"):
        data.load("fashion-mnist", split="test", root=tmp_path, download=False)


@pytest.mark.skipif(shared_data_dir() is None, reason="real Fashion-MNIST not available (set COURSE_DATA_DIR)")
def test_real_fashion_mnist_has_the_official_split():
    root = shared_data_dir()
    train = data.load("fashion-mnist", split="train", root=root, download=False)
    test = data.load("fashion-mnist", split="test", root=root, download=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.targets.bincount().tolist() == [6_000] * 10
    assert test.targets.bincount().tolist() == [1_000] * 10
