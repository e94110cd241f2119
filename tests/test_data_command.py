"""``make data`` (tools/data.py over :mod:`course_lib.data.fetch`): verifies what is there, fetches nothing in tests.

The Fashion-MNIST checks run on copies of the genuine files (``$COURSE_DATA_DIR``, or
``../shared/data``); every download is either switched off or replaced by a stub.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from fixtures_data import (UTK_KEPT, UTK_MALFORMED, truncate, utk_images, write_celeba, write_cifar10,
                           write_utkface_archive, write_utkface_folder)

from conftest import REPO, shared_data_dir
from course_lib.data import fetch
from course_lib.data.fetch import Status

FASHION_STEMS = tuple(fetch.FASHION_MNIST_SHA256)


def _load_command():
    spec = importlib.util.spec_from_file_location("data_command", REPO / "tools" / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


command = _load_command()


def _genuine_fashion_files() -> list[Path] | None:
    """The four genuine Fashion-MNIST files (gzipped or plain), or None when one is not found."""
    shared = shared_data_dir()
    if shared is None:
        return None
    raw = shared / "FashionMNIST" / "raw"
    found = [next((p for p in (raw / f"{stem}.gz", raw / stem) if p.is_file()), None) for stem in FASHION_STEMS]
    return None if None in found else found


GENUINE = _genuine_fashion_files()
needs_fashion = pytest.mark.skipif(
    GENUINE is None, reason="the genuine Fashion-MNIST files are not in $COURSE_DATA_DIR/FashionMNIST/raw or "
                            "../shared/data/FashionMNIST/raw")


def copy_fashion(root: Path) -> Path:
    """Copy the genuine files into ``root/FashionMNIST/raw``; return that folder."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in GENUINE:
        shutil.copyfile(path, raw / path.name)
    return raw


def contents(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every torchvision download fails as it does without a network."""
    import torchvision.datasets

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    for name in ("FashionMNIST", "CIFAR10"):
        monkeypatch.setattr(torchvision.datasets, name, unreachable)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, list[str]]:
    """Run the command in-process; return its exit status and its output lines."""
    code = command.main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def intact_fashion(raw: Path, files: int = 4) -> Status:
    return Status("Fashion-MNIST", "intact", f"{files} files in {raw} hold the official contents "
                                             "(SHA-256 of the decompressed idx files)")


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST
# ----------------------------------------------------------------------------------------------


@needs_fashion
def test_reference_digests_are_those_of_the_genuine_files():
    for path, stem in zip(GENUINE, FASHION_STEMS):
        assert hashlib.sha256(contents(path)).hexdigest() == fetch.FASHION_MNIST_SHA256[stem], path.name


@needs_fashion
def test_command_reports_genuine_fashion_mnist_intact(root, capsys):
    raw = copy_fashion(root)
    code, lines = run(capsys, "--data-dir", str(root), "--no-download")
    assert code == 0
    assert lines[0] == f"Fashion-MNIST intact   4 files in {raw} hold the official contents (SHA-256 of the decompressed idx files)"
    assert [line.split()[:2] for line in lines[1:-1]] == [["UTKFace", "missing"], ["CelebA", "missing"]]
    assert lines[-1] == f"{root}: 1 intact, 0 fetched, 2 missing, 0 damaged"


@needs_fashion
def test_plain_idx_files_are_accepted(root):
    raw = copy_fashion(root)
    for stem in FASHION_STEMS:
        gz = raw / f"{stem}.gz"
        (raw / stem).write_bytes(contents(gz))
    assert fetch.check_fashion_mnist(root) == intact_fashion(raw, files=8)  # torchvision keeps both copies
    for stem in FASHION_STEMS:
        (raw / f"{stem}.gz").unlink()
    assert fetch.check_fashion_mnist(root) == intact_fashion(raw)


@needs_fashion
@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_one_changed_byte_is_reported_as_damage(root, capsys, offline, gz):
    raw = copy_fashion(root)
    genuine = raw / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(contents(genuine))
    data[100] ^= 1  # one label of the test set
    genuine.unlink()
    damaged = raw / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))
    damaged.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    assert fetch.check_fashion_mnist(root) == Status(
        "Fashion-MNIST", "damaged", f"{damaged} differs from the official t10k-labels-idx1-ubyte (SHA-256 of the "
                                    "decompressed contents); delete the damaged files and run make data again")
    code, lines = run(capsys, "--data-dir", str(root))  # downloads on: damage is never overwritten
    assert code == 1
    assert lines[0].startswith(f"Fashion-MNIST damaged  {damaged} differs")
    assert lines[-1] == f"{root}: 0 intact, 0 fetched, 2 missing, 1 damaged; replace the damaged files named above"


@needs_fashion
def test_truncated_gzip_is_reported_as_damage(root):
    raw = copy_fashion(root)
    truncate(raw / "train-images-idx3-ubyte.gz", 0.5)
    status = fetch.check_fashion_mnist(root)
    assert status.state == "damaged"
    assert re.fullmatch(re.escape(f"{raw / 'train-images-idx3-ubyte.gz'} is truncated or damaged (EOFError: ")
                        + r".+\); delete the damaged files and run make data again", status.message)


def test_missing_fashion_mnist_offline_says_where_to_get_it(root, capsys, offline):
    raw = root / "FashionMNIST" / "raw"
    where = (f"{raw} lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
             f"t10k-labels-idx1-ubyte.gz: download them from https://github.com/zalandoresearch/fashion-mnist "
             f"into {raw}, where the course looks when COURSE_DATA_DIR={root}")
    assert fetch.fetch_fashion_mnist(root, download=False) == Status("Fashion-MNIST", "missing", where)
    assert fetch.fetch_fashion_mnist(root) == Status(
        "Fashion-MNIST", "missing", f"{where}; the download failed (OSError: network is unreachable)")
    code, lines = run(capsys, "--data-dir", str(root))
    assert code == 0
    assert lines[0] == f"Fashion-MNIST missing  {where}; the download failed (OSError: network is unreachable)"
    assert lines[-1] == f"{root}: 0 intact, 0 fetched, 3 missing, 0 damaged"


@needs_fashion
def test_downloaded_files_are_verified(root, monkeypatch):
    import torchvision.datasets

    calls = []

    def download(folder, *, train, download):
        calls.append((folder, train, download))
        copy_fashion(Path(folder))

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", download)
    raw = root / "FashionMNIST" / "raw"
    expected = intact_fashion(raw)
    assert fetch.fetch_fashion_mnist(root) == Status("Fashion-MNIST", "fetched", f"downloaded: {expected.message}")
    assert calls == [(str(root), True, True)]
    assert fetch.fetch_fashion_mnist(root) == expected  # present now: no second download
    assert len(calls) == 1


# ----------------------------------------------------------------------------------------------
# UTKFace
# ----------------------------------------------------------------------------------------------

ONE_MALFORMED = {**utk_images(tuple(UTK_KEPT)), **utk_images(UTK_MALFORMED[:1])}


@pytest.mark.parametrize("layout", ["archive", "folder"])
def test_utkface_counts_images_and_malformed_names(root, layout):
    source = (write_utkface_archive if layout == "archive" else write_utkface_folder)(root, ONE_MALFORMED)
    assert fetch.check_utkface(root) == Status(
        "UTKFace", "intact", f"10 images in {source}, 9 with labels in their names; 1 skipped, whose names lack "
                             "the [age]_[gender]_[race]_ fields: 39_1_20170116174525125.jpg.chip.jpg "
                             "(the official release has 23,707 images)")


def test_truncated_utkface_archive_is_damaged(root):
    archive = write_utkface_archive(root, ONE_MALFORMED)
    truncate(archive, 0.5)
    status = fetch.check_utkface(root)
    assert status.state == "damaged"
    assert re.fullmatch(re.escape(f"UTKFace archive {archive} is truncated or damaged (") + r".+"
                        + re.escape("); delete it and download UTKFace.tar.gz again from https://susanqq.github.io/UTKFace/"),
                        status.message)


def test_utkface_archive_without_images_is_damaged(root):
    archive = write_utkface_archive(root, {})
    assert fetch.check_utkface(root) == Status(
        "UTKFace", "damaged", f"{archive} holds no JPEG images; download UTKFace.tar.gz again from "
                              "https://susanqq.github.io/UTKFace/")


def test_missing_utkface_names_the_page_and_the_licence(root):
    assert fetch.check_utkface(root) == Status(
        "UTKFace", "missing", f'neither UTKFace.tar.gz nor UTKFace/ in {root}. Download "Aligned&Cropped Faces" '
                              "(`UTKFace.tar.gz`) from the official UTKFace page https://susanqq.github.io/UTKFace/ "
                              "and put it, as it is, in the folder `COURSE_DATA_DIR` points at. The images are for "
                              "non-commercial research and education only; the course never redistributes them.")


# ----------------------------------------------------------------------------------------------
# CelebA and CIFAR-10
# ----------------------------------------------------------------------------------------------


def test_missing_celeba_names_its_page(root):
    folder = root / "celeba"
    assert fetch.check_celeba(root) == Status(
        "CelebA", "missing", f"{folder} lacks img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt "
                             "(optional). Download them from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
                             "(Align&Cropped Images: img_align_celeba.zip, unzipped; Anno: list_attr_celeba.txt; "
                             "Eval: list_eval_partition.txt) into `celeba/` under `COURSE_DATA_DIR`, or load it "
                                 "with download=True on a machine with internet access (torchvision fetches the files "
                                 "from Google Drive; it needs the gdown package, and Google Drive often refuses for a "
                                 "while when its daily quota is spent). CelebA is for non-commercial research only.")


def test_celeba_is_counted_and_a_missing_image_is_damage(root):
    folder = write_celeba(root)
    assert fetch.check_celeba(root) == Status(
        "CelebA", "intact", f"8 images in {folder / 'img_align_celeba'}, each listed in list_eval_partition.txt "
                            "and list_attr_celeba.txt")
    (folder / "img_align_celeba" / "000003.jpg").unlink()
    assert fetch.check_celeba(root) == Status(
        "CelebA", "damaged", f"CelebA: {folder / 'img_align_celeba'} lacks 1 of the 8 images listed in "
                             "list_eval_partition.txt (e.g. 000003.jpg); unzip img_align_celeba.zip there again")


def test_cifar10_only_when_asked_and_missing_offline(root, offline):
    assert [s.dataset for s in fetch.prepare(root, download=False)] == ["Fashion-MNIST", "UTKFace", "CelebA"]
    status = fetch.prepare(root, cifar10=True)[2]
    assert (status.dataset, status.state) == ("CIFAR-10", "missing")
    assert status.message.endswith("https://www.cs.toronto.edu/~kriz/cifar.html and extract `cifar-10-batches-py/` "
                                   "under `COURSE_DATA_DIR`; the download failed (OSError: network is unreachable)")


def test_cifar10_batches_are_checked_against_their_md5(root, monkeypatch):
    folder = write_cifar10(root)  # fixture batches: not the official files
    assert fetch.check_cifar10(root) == Status(
        "CIFAR-10", "damaged", ", ".join(str(folder / name) for name in fetch.CIFAR10_MD5)
        + f" differ from the official files (MD5); delete {folder} and download the dataset again")
    monkeypatch.setattr(fetch, "CIFAR10_MD5", {name: hashlib.md5((folder / name).read_bytes()).hexdigest()
                                               for name in fetch.CIFAR10_MD5})
    assert fetch.check_cifar10(root) == Status("CIFAR-10", "intact",
                                               f"the 7 files of {folder} hold the official contents (MD5)")


def test_arguments_are_checked(root):
    with pytest.raises(TypeError, match=re.escape("cifar10 must be True or False, got 'yes'")):
        fetch.prepare(root, cifar10="yes")
    with pytest.raises(ValueError, match=re.escape("state must be one of ['intact', 'fetched', 'missing', 'damaged']")):
        Status("UTKFace", "broken", "")
