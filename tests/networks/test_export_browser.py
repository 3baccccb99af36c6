"""The ONNX kit's ``index.html`` in headless Chromium with ONNX Runtime Web gives the bundle's labels.

Needs chromium, chromedriver, selenium and onnxruntime-web's ``dist/`` folder, named by
``ORT_WEB_DIST`` (``npm pack onnxruntime-web@1.30.0 && tar xzf onnxruntime-web-1.30.0.tgz``:
``ORT_WEB_DIST=$PWD/package/dist``); skipped without them, since the page would fetch it from jsDelivr.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import cv2
import pytest

from dicebox.nets.export import export_model


@pytest.fixture
def page_server(bundle_dir, tmp_path):
    dist = os.environ.get("ORT_WEB_DIST")
    browser, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (dist and (Path(dist) / "ort.min.js").is_file() and browser and driver):
        pytest.skip("needs ORT_WEB_DIST (onnxruntime-web's dist folder), chromium and chromedriver")
    pytest.importorskip("selenium")
    root = tmp_path / "site"
    root.mkdir()
    export_model(bundle_dir, "onnx", root / "kit")
    (root / "ort").symlink_to(Path(dist))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", browser, driver
    server.shutdown()
    server.server_close()


def test_the_browser_page_classifies_like_the_service(page_server, classifier, shapes_data, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, browser, driver_path = page_server
    paths, expected = [], []
    for i in range(0, 200, 25):  # model-sized images: the browser does not resize them
        path = tmp_path / f"frame{i}.png"
        cv2.imwrite(str(path), shapes_data.images[i])
        paths.append(path)
        result = classifier.classify(shapes_data.images[i])
        expected.append((path.name, result.label, round(result.confidence, 4)))
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(f"{url}/kit/index.html?ort={url}/ort/")
        result = driver.find_element(By.ID, "result")
        WebDriverWait(driver, 60).until(lambda d: result.text == "ready" or "cannot" in result.text)
        assert result.text == "ready"
        driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))
        WebDriverWait(driver, 60).until(lambda d: result.text.count("\n") == len(paths) - 1)
        got = [line.split() for line in result.text.splitlines()]  # the page writes name, label, confidence
        assert [(name, label) for name, label, _ in got] == [(name, label) for name, label, _ in expected]
        for (_, _, confidence), (_, _, want) in zip(got, expected, strict=True):
            assert abs(float(confidence) - want) <= 2e-4
    finally:
        driver.quit()
