"""Fixtures for the web client tests: headless Chromium from the system packages with a fake camera
fed a synthetic dice video, and a small trained dice model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

VIDEO_SIZE = (640, 480)
VIDEO_FPS = 10


def write_y4m(path: Path, frames: int = 60, seed: int = 5) -> Path:
    """A YUV4MPEG2 (I420) video of the synthetic dice camera (``synthetic:dice``), for Chromium's fake camera."""
    import cv2

    from dicebox.camera.synthetic import SyntheticDiceSource

    width, height = VIDEO_SIZE
    source = SyntheticDiceSource(seed=seed, fps=VIDEO_FPS, width=width, height=height, hold=VIDEO_FPS * 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{VIDEO_FPS}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for seq in range(frames):
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(source.render(seq), cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def chromium_paths():
    found = _chromium()
    if found is None:
        message = "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        import selenium  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("selenium is not installed (pip install -e '.[test]')")
        pytest.skip("selenium is not installed")
    return found


@pytest.fixture(scope="session")
def dice_video(tmp_path_factory):
    return write_y4m(tmp_path_factory.mktemp("video") / "dice.y4m")


@pytest.fixture
def browser(chromium_paths, dice_video, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers without user namespaces
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={dice_video}",
        "--window-size=1280,800",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def dice_bundle_files(tmp_path_factory):
    """A small, briefly trained dice classifier for the data set dice_60x50 (grey)."""
    import numpy as np

    from dicebox.camera import Geometry, synthetic_dataset
    from dicebox.images import LabelledImages
    from dicebox.nets.bundle import save_bundle
    from dicebox.nets.genome import default_genome
    from dicebox.nets.training import TrainOptions, run_training

    geometry = Geometry(60, 50, 1)
    images, labels = synthetic_dataset(120, geometry, seed=11)
    categories = tuple(sorted(set(labels)))
    data = LabelledImages(images, np.array([categories.index(label) for label in labels]), categories)
    result = run_training(default_genome(), data, TrainOptions(epochs=15, batch_size=32, seed=3, patience=4))
    path = tmp_path_factory.mktemp("bundles") / "dice"
    save_bundle(result, path, dataset_id="dice_60x50")
    return path
