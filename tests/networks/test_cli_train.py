"""``dicebox train``: from an .npz file or the data set store to a bundle; bad input is one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dicebox.cli import main
from dicebox.config import load_config
from dicebox.nets.bundle import load_bundle
from dicebox.nets.genome import Conv2DLayer, DenseLayer, Genome, save_genome


@pytest.fixture
def npz_file(shapes_data, tmp_path):
    path = tmp_path / "shapes.npz"
    np.savez(
        path,
        images=shapes_data.images[:, :, :, 0],  # (N, H, W) is accepted too
        labels=shapes_data.labels,
        categories=np.array(shapes_data.categories),
        version=np.array("v1"),
    )
    return path


@pytest.fixture
def tiny_genome_file(tmp_path):
    path = tmp_path / "lonestar.json"
    save_genome(Genome((Conv2DLayer(4, 3), DenseLayer(16))), path)
    return path


def test_train_from_npz_writes_a_bundle(npz_file, tiny_genome_file, tmp_path, capsys):
    out = tmp_path / "model"
    argv = [
        "train",
        "--data-dir",
        str(tmp_path / "home"),
        "--npz",
        str(npz_file),
        "--genome",
        str(tiny_genome_file),
    ]
    code = main([*argv, "--out", str(out), "--epochs", "3", "--seed", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    bundle = load_bundle(out)
    assert bundle.categories == ("bar_h", "bar_v", "circle", "cross")
    assert bundle.dataset_version == "v1"
    assert bundle.genome == Genome((Conv2DLayer(4, 3), DenseLayer(16)))
    assert json.loads((out / "bundle.json").read_text())["training"]["options"]["epochs"] == 3
    assert "accuracy:" in captured.out and "circle" in captured.out and bundle.model_id in captured.out


def test_train_from_the_dataset_store(shapes_data, tmp_path, capsys):
    from dicebox.store import DatasetStore

    home = tmp_path / "home"
    config = load_config(data_dir=home)
    store = DatasetStore(config.datasets_dir)
    dataset = store.dataset("shapes_20x16")
    picked = range(0, len(shapes_data), 4)
    dataset.store_many([(shapes_data.images[i], shapes_data.categories[shapes_data.labels[i]]) for i in picked])
    store.close()
    out = tmp_path / "model"
    code = main(["train", "--data-dir", str(home), "--dataset", "shapes_20x16", "--out", str(out), "--epochs", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    bundle = load_bundle(out)
    assert bundle.dataset_id == "shapes_20x16" and bundle.dataset_version
    assert bundle.genome is not None and bundle.genome.fingerprint() == "61d05a7a90622fd8"  # the default CNN
    assert "epoch 1/1" in captured.err  # the progress bar


def _bad_genome(tmp_path):
    path = tmp_path / "big-kernel.json"
    path.write_text(json.dumps({"optimizer": "adam", "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 30}]}))
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (lambda tmp, npz: ["--npz", str(npz), "--genome", str(tmp / "nope.json")], "genome file not found"),
        (
            lambda tmp, npz: ["--npz", str(npz), "--genome", str(_bad_genome(tmp))],
            "larger than its input 16x20",
        ),
        (lambda tmp, npz: ["--npz", str(tmp / "missing.npz")], "--npz file not found"),
        (lambda tmp, npz: ["--dataset", "nothing_20x16"], "does not exist"),
        (lambda tmp, npz: ["--npz", str(npz), "--epochs", "0"], "epochs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(npz_file, tmp_path, capsys, extra, message):
    argv = ["train", "--data-dir", str(tmp_path / "home"), "--out", str(tmp_path / "model")]
    code = main([*argv, *extra(tmp_path, npz_file)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err and err.startswith("dicebox: error:")
    assert not (tmp_path / "model").exists()


def test_no_images(tmp_path, capsys):
    empty = tmp_path / "empty.npz"
    np.savez(empty, images=np.zeros((0, 16, 20, 1), np.uint8), labels=np.zeros(0, np.int64), categories=["a", "b"])
    code = main(["train", "--data-dir", str(tmp_path), "--npz", str(empty), "--out", str(tmp_path / "m")])
    assert code == 2 and "no images to train on" in capsys.readouterr().err


def _train_with_genome_text(text: str, npz_file, tmp_path, capsys, *extra: str) -> tuple[int, str, float]:
    import time

    genome = tmp_path / "genome.json"
    genome.write_text(text)
    argv = ["train", "--data-dir", str(tmp_path / "home"), "--npz", str(npz_file), "--genome", str(genome)]
    started = time.monotonic()
    code = main([*argv, "--out", str(tmp_path / "model"), "--epochs", "1", "--quiet", *extra])
    return code, capsys.readouterr().err, time.monotonic() - started


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (json.dumps({"layers": [{"type": "dense", "size": 10**9}]}), "parameters"),
        (json.dumps({"layers": [{"type": "dropout", "rate": 0.1}] * 1_000}), "at most 256 layers"),
        (json.dumps({"layers": [{"type": "dropout", "rate": 0.1}] * 100_000}), "bytes"),
        ("[" * 100_000, "nested"),
        ('{"a":' * 50_000, "nested"),
    ],
    ids=["billion-neuron-dense", "1000-layers", "100k-layers", "deep-list", "deep-object"],
)
def test_train_refuses_oversized_genomes_at_once(text, says, npz_file, tmp_path, capsys):
    code, err, seconds = _train_with_genome_text(text, npz_file, tmp_path, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dicebox: error:") and says in lines[0], err
    assert "Traceback" not in err and "--repair" not in err
    assert seconds < 5, f"took {seconds:.1f} s to refuse"
    assert not (tmp_path / "model").exists()


def test_train_max_parameters_flag_sets_the_limit(npz_file, tiny_genome_file, tmp_path, capsys):
    code, err, _ = _train_with_genome_text(
        tiny_genome_file.read_text(), npz_file, tmp_path, capsys, "--max-parameters", "100"
    )
    assert code == 2 and "more than the limit of 100" in err, err
