"""Data loaders: bundled/generated sets and the readers of users' local files."""

import gzip
import hashlib
import os

import numpy as np
import pytest

from adaptlr.benchmarks import data


def _write_idx(path, array, code):
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(raw)


def _write_mnist(directory, n_train=5, n_test=3, gz=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        _write_idx(os.path.join(directory, name + (".gz" if gz else "")), array, 0x08)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, gz):
    arrays = _write_mnist(str(tmp_path), gz=gz)
    split = data.load_mnist(str(tmp_path))
    assert split.x_train.shape == (5, 784) and split.x_test.shape == (3, 784)
    np.testing.assert_array_equal(
        split.x_train, arrays["train-images-idx3-ubyte"].reshape(5, -1) / np.float32(255))
    np.testing.assert_array_equal(split.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert split.y_train.dtype == np.int32


def test_read_idx_big_endian_floats(tmp_path):
    values = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    path = str(tmp_path / "x.idx")
    _write_idx(path, values, 0x0D)
    np.testing.assert_array_equal(data.read_idx(path), values)


def test_read_idx_rejects_truncated_file(tmp_path):
    path = str(tmp_path / "x.idx")
    _write_idx(path, np.zeros((4, 4), np.uint8), 0x08)
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(raw[:-3])
    with pytest.raises(ValueError, match="header says shape"):
        data.read_idx(path)


def test_load_mnist_empty_directory_names_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist(str(tmp_path))
    for name in data.MNIST_FILES:
        assert name in str(info.value)


def _write_cifar(directory, per_batch=4):
    rng = np.random.default_rng(1)
    written = {}
    for name in (*data.CIFAR10_TRAIN_FILES, data.CIFAR10_TEST_FILE):
        labels = rng.integers(0, 10, per_batch, dtype=np.uint8)
        pixels = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        np.concatenate([labels[:, None], pixels], 1).tofile(os.path.join(directory, name))
        written[name] = (labels, pixels)
    return written


def test_load_cifar10_reads_binary_batches(tmp_path):
    nested = tmp_path / "cifar-10-batches-bin"
    nested.mkdir()
    written = _write_cifar(str(nested))
    split = data.load_cifar10(str(tmp_path))
    assert split.x_train.shape == (20, 32, 32, 3) and split.x_test.shape == (4, 32, 32, 3)
    labels, pixels = written["data_batch_2.bin"]
    np.testing.assert_array_equal(split.y_train[4:8], labels)
    # Channel-major on disk: the red plane comes first, so pixel (0, 0) red is byte 0,
    # green byte 1024, blue byte 2048.
    first = split.x_train[4, 0, 0] * 255
    np.testing.assert_allclose(first, pixels[0, [0, 1024, 2048]], atol=1e-4)


def test_load_cifar10_empty_directory_names_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load_cifar10(str(tmp_path))
    for name in (*data.CIFAR10_TRAIN_FILES, data.CIFAR10_TEST_FILE):
        assert name in str(info.value)


def test_tempest_is_the_pinned_text():
    text = data.tempest()
    assert hashlib.sha256(text.encode("ascii")).hexdigest() == data.TEMPEST_SHA256
    assert text.startswith("THE TEMPEST") and "\r" not in text
    assert "Let your indulgence set me free." in text


def test_digits_split_is_standardised_and_disjoint():
    split = data.digits()
    assert split.x_train.shape == (1438, 64) and split.x_test.shape == (359, 64)
    np.testing.assert_allclose(split.x_train.mean(0), 0, atol=1e-5)
    assert set(np.unique(split.y_train)) == set(range(10))


def test_mnist1d_matches_paper_shapes_and_keeps_global_rng():
    # mnist1d seeds NumPy's legacy global generator; data.mnist1d must restore it.
    data.mnist1d.cache_clear()
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.rand()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    split = data.mnist1d()
    assert np.random.rand() == expected  # noqa: NPY002
    assert split.x_train.shape == (4000, 40) and split.x_test.shape == (1000, 40)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int32
    # make_dataset draws num_samples // 10 = 500 sequences of each digit.
    counts = np.bincount(np.concatenate([split.y_train, split.y_test]), minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 500))
