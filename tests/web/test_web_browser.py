"""The web client in a real headless Chromium with a fake camera playing a synthetic dice video.

Skipped without chromium and chromedriver, except in CI. Set DICEBOX_SCREENSHOTS=<folder> to keep
the desktop (1280x800) and phone (390x844) screenshots (the README's come from assets/screenshots).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from helpers import API_KEY

from dicebox.camera.roi import Roi, preprocess_roi
from dicebox.camera.synthetic import SyntheticDiceSource, default_roi
from dicebox.images import Geometry

HEADERS = {"API-ACCESS-KEY": API_KEY}
DATASET = "dice_60x50"


def wait_for(driver, script, timeout=20.0, what="the page"):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.monotonic() > deadline:
            said = driver.execute_script("return document.getElementById('record-message').textContent")
            raise AssertionError(f"timed out waiting for {what}: {script} (the page says: {said!r})")
        time.sleep(0.1)


def open_page(driver, url):
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    wait_for(driver, "return document.getElementById('key-dialog').open", what="the page to ask for the key")
    driver.find_element(By.ID, "key-input").send_keys(API_KEY)
    driver.find_element(By.ID, "key-submit").click()
    wait_for(driver, "return window.dicebox.state.latest !== null", what="the first crop from the camera")


def service_counts(url):
    answer = requests.get(f"{url}/api/v1/datasets/{DATASET}", headers=HEADERS, timeout=10)
    return {c["name"]: c["count"] for c in answer.json()["categories"]}


def write_evolution_run(folder):
    folder.mkdir(parents=True)
    history = [
        {"generation": 1, "generations": 5, "best": 0.62, "average": 0.41, "failed": 0},
        {"generation": 2, "generations": 5, "best": 0.71, "average": 0.525, "failed": 1},
        {"generation": 3, "generations": 5, "best": 0.83, "average": 0.66, "failed": 0},
    ]
    state = {"generation": 3, "finished": False, "champion": {"accuracy": 0.83}, "history": history}
    (folder / "state.json").write_text(json.dumps(state), encoding="utf-8")


def screenshot(driver, name, width, height, tmp_path):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.8)  # a few frames and one classification at the new size
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways at {width}x{height}"
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get("DICEBOX_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def test_the_page_crops_like_preprocess_roi(browser, live_service):
    """The crop the page sends (its preprocessing and its PNG) against preprocess_roi in Python."""
    url, _app = live_service
    open_page(browser, url)
    frame = SyntheticDiceSource(seed=3).render(7)  # BGR, 640x480
    height, width = frame.shape[:2]
    rgba = cv2.cvtColor(frame, cv2.COLOR_BGR2RGBA)
    cases = [
        (default_roi(), Geometry(60, 50, 1)),  # the page's default box: INTER_AREA
        (Roi(13, 27, 301, 250), Geometry(60, 50, 1)),
        (Roi(500, 400, 300, 250), Geometry(60, 50, 1)),  # sticks out: shifted back in
        (Roi(5, 9, 333, 277), Geometry(60, 50, 3)),
        (Roi(100, 100, 37, 31), Geometry(60, 50, 1)),  # smaller than the input: INTER_LINEAR
    ]
    for roi, geometry in cases:
        png_base64 = browser.execute_script(
            """
            const [b64, width, height, roi, geometry] = arguments;
            const rgba = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const result = window.dicebox.preprocess.preprocessRoi(rgba, width, height, roi, geometry);
            return window.dicebox.encodePng(result);
            """,
            base64.b64encode(rgba.tobytes()).decode("ascii"),
            width,
            height,
            {"x": roi.x, "y": roi.y, "width": roi.width, "height": roi.height},
            {"width": geometry.width, "height": geometry.height, "channels": geometry.channels},
        )
        sent = cv2.imdecode(np.frombuffer(base64.b64decode(png_base64), np.uint8), cv2.IMREAD_UNCHANGED)
        expected = preprocess_roi(frame, roi, geometry)
        # The service reads the PNG as the store does: grey pages are R=G=B, which BGR2GRAY keeps.
        from dicebox.images import to_channels

        got = to_channels(sent, geometry.channels)
        assert got.shape == expected.shape
        difference = np.abs(got.astype(int) - expected.astype(int))
        if roi.width >= geometry.width:  # INTER_AREA and the grey formula: identical
            assert difference.max() == 0, (roi, geometry, difference.mean())
        else:  # INTER_LINEAR: OpenCV's fixed point, within one level
            assert difference.max() <= 1 and difference.mean() < 0.05, (roi, geometry, difference.mean())


def test_record_two_labels_queue_offline_and_classify_live(browser, live_service, config, dice_bundle_files, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, _app = live_service
    shutil.copytree(dice_bundle_files, config.weights_dir / "dice")
    write_evolution_run(config.population_dir / "20260101-120000-beef")
    open_page(browser, url)
    find = browser.find_element

    for name in ("1", "2"):
        find(By.ID, "new-label").send_keys(name)
        find(By.ID, "add-label").click()
        wait_for(
            browser, f"return [...document.querySelectorAll('#label-select option')].some(o => o.value === '{name}')"
        )
    assert set(service_counts(url)) == {"1", "2"}
    find(By.ID, "new-label").send_keys("CON")  # a Windows device name: refused, nothing added
    find(By.ID, "add-label").click()
    said = wait_for(browser, "return document.getElementById('label-message').textContent", what="the refusal")
    assert "CON" in said or "reserved" in said.lower(), said
    assert set(service_counts(url)) == {"1", "2"}
    find(By.ID, "new-label").clear()

    # Label 1: hold the record button.
    wait_for(browser, "document.getElementById('label-select').value = '1'; return true")
    ActionChains(browser).click_and_hold(find(By.ID, "record-hold")).pause(2.0).release().perform()
    # Label 2: hold space, as on the desktop.
    browser.execute_script("document.getElementById('label-select').value = '2'; document.activeElement.blur()")
    ActionChains(browser).key_down(Keys.SPACE).pause(1.5).key_up(Keys.SPACE).perform()
    wait_for(
        browser, "return document.getElementById('queue-size').textContent === '0' && !window.dicebox.state.refused"
    )
    kept = browser.execute_script("return window.dicebox.state.keptBy")
    assert kept.get("1", 0) >= 3 and kept.get("2", 0) >= 3, kept
    assert service_counts(url) == {"1": kept["1"], "2": kept["2"]}  # every frame, exactly once

    # The service out of reach: frames wait in IndexedDB, and arrive once it is back.
    browser.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    browser.execute_script("document.getElementById('label-select').value = '1'")
    find(By.ID, "record-toggle").click()
    time.sleep(1.5)
    find(By.ID, "record-toggle").click()
    waiting = int(wait_for(browser, "return Number(document.getElementById('queue-size').textContent)"))
    assert waiting >= 2
    assert service_counts(url)["1"] == kept["1"]
    assert find(By.ID, "connection").get_attribute("data-state") == "offline"
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    wait_for(browser, "return document.getElementById('queue-size').textContent === '0'", what="the queue to drain")
    kept = browser.execute_script("return window.dicebox.state.keptBy")
    assert service_counts(url) == {"1": kept["1"], "2": kept["2"]}
    assert browser.execute_script("return window.dicebox.state.duplicates") == 0
    # An answer lost after the service stored a batch: the batch is sent again and kept once.
    resent = browser.execute_script(
        """
        const d = window.dicebox, png = await d.encodePng(d.state.latest);
        await d.queue.add({dataset: 'dice_60x50', category: '2', data: png});
        await d.deliver();
        await d.queue.add({dataset: 'dice_60x50', category: '2', data: png});  // the same frame again
        await d.deliver();
        return [d.state.duplicates, await d.queue.size()];
        """
    )
    assert resent == [1, 0]
    assert service_counts(url) == {"1": kept["1"], "2": kept["2"] + 1}
    kept["2"] += 1

    # A model loaded into the service: the page classifies the crop continuously.
    loaded = requests.post(f"{url}/api/v1/model", json={"bundle": "dice"}, headers=HEADERS, timeout=120)
    assert loaded.status_code == 200, loaded.text
    label = wait_for(
        browser, "return document.getElementById('classify-result').dataset.label", what="a classification"
    )
    assert label in {"1", "2", "3", "4", "5", "6"}
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == 6
    result = find(By.ID, "classify-result")
    assert ("match" in result.get_attribute("class")) or ("mismatch" in result.get_attribute("class"))

    # The latest evolution run, recent thumbnails (delete and relabel), and both layouts.
    summary = wait_for(
        browser,
        "const t = document.getElementById('evolution-summary').textContent; return t.includes('beef') && t",
        what="the evolution run",
    )
    assert "generation 3 of 5" in summary
    rows = browser.find_elements(By.CSS_SELECTOR, "#evolution-table tbody tr")
    assert [r.text.split() for r in rows][1] == ["2", "71.0%", "52.5%", "1"]
    total = sum(service_counts(url).values())
    newest = requests.get(
        f"{url}/api/v1/datasets/{DATASET}/images?offset={total - 1}&limit=1", headers=HEADERS, timeout=10
    ).json()["images"][0]
    image_id, category = newest["id"], newest["category"]
    wait_for(
        browser,
        "const t = document.querySelectorAll('#thumbs .thumb');"
        f"return t.length === 12 && t[0].dataset.id === '{image_id}' && t[0].querySelector('img').complete",
        what="the 12 most recent thumbnails, newest first",
    )
    first = find(By.CSS_SELECTOR, "#thumbs .thumb")
    other = "2" if category == "1" else "1"
    from selenium.webdriver.support.select import Select

    Select(first.find_element(By.TAG_NAME, "select")).select_by_value(other)
    wait_for(
        browser,
        f"return document.querySelector('#thumbs .thumb[data-id=\"{image_id}\"] img')?.alt === '{other}'",
        what="the relabelled thumbnail",
    )
    counts = service_counts(url)
    assert counts[other] == kept[other] + 1 and counts[category] == kept[category] - 1
    find(By.CSS_SELECTOR, f'#thumbs .thumb[data-id="{image_id}"] button').click()
    wait_for(browser, f"return !document.querySelector('#thumbs .thumb[data-id=\"{image_id}\"]')", what="the deletion")
    assert service_counts(url) == {category: kept[category] - 1, other: kept[other]}
    screenshot(browser, "web-desktop", 1280, 800, tmp_path)
    screenshot(browser, "web-phone", 390, 844, tmp_path)


def test_the_region_of_interest_moves_and_resizes_with_the_data_set_aspect(browser, live_service):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    url, _app = live_service
    open_page(browser, url)
    view = browser.find_element(By.ID, "frame-view")
    before = browser.execute_script("return window.dicebox.state.roi")
    assert before == {"x": 176, "y": 120, "width": 288, "height": 240}  # default_roi() for 640x480
    scale = browser.execute_script("const v = arguments[0]; return v.getBoundingClientRect().width / v.width", view)

    def at(frame_x, frame_y):
        """Offsets from the element's centre, as Selenium 4 wants them, of a frame pixel."""
        return int((frame_x - 320) * scale), int((frame_y - 240) * scale)

    # Drag the box far right and down: it moves and stops at the frame's edges.
    ActionChains(browser).move_to_element_with_offset(view, *at(320, 240)).click_and_hold().move_by_offset(
        int(400 * scale), int(30 * scale)
    ).release().perform()
    moved = browser.execute_script("return window.dicebox.state.roi")
    assert moved["x"] == 640 - 288 and moved["y"] in range(145, 156) and moved["width"] == 288
    # Drag its corner inwards: smaller, with the data set's 60:50 aspect, never below 60x50.
    corner = (moved["x"] + moved["width"] - 4, moved["y"] + moved["height"] - 4)
    ActionChains(browser).move_to_element_with_offset(view, *at(*corner)).click_and_hold().move_by_offset(
        int(-150 * scale), 0
    ).release().perform()
    resized = browser.execute_script("return window.dicebox.state.roi")
    assert resized["width"] in range(130, 150) and resized["width"] * 50 == pytest.approx(
        resized["height"] * 60, abs=30
    )
    ActionChains(browser).move_to_element_with_offset(
        view, *at(resized["x"] + resized["width"] - 4, resized["y"] + resized["height"] - 4)
    ).click_and_hold().move_by_offset(int(-400 * scale), 0).release().perform()
    smallest = browser.execute_script("return window.dicebox.state.roi")
    assert (smallest["width"], smallest["height"]) == (60, 50)
    # The crop follows the box: the page's crop is preprocess of the box it shows.
    assert browser.execute_script("return window.dicebox.state.latest.box") == smallest


def test_the_key_is_asked_once_per_tab_and_a_wrong_one_again(browser, live_service):
    from selenium.webdriver.common.by import By

    url, _app = live_service
    browser.get(url + "/")
    wait_for(browser, "return document.getElementById('key-dialog').open", what="the key dialog")
    browser.find_element(By.ID, "key-input").send_keys("not-the-key-0000")
    browser.find_element(By.ID, "key-submit").click()
    said = wait_for(
        browser,
        "return document.getElementById('key-dialog').open && document.getElementById('key-error').textContent",
        what="the refusal",
    )
    assert "refused" in said
    browser.find_element(By.ID, "key-input").send_keys(API_KEY)
    browser.find_element(By.ID, "key-submit").click()
    wait_for(browser, "return window.dicebox.state.latest !== null", what="the camera after the right key")
    browser.refresh()  # the same tab: the key is kept in its session storage, not asked again
    wait_for(browser, "return window.dicebox.state.latest !== null", what="the camera after a reload")
    assert not browser.execute_script("return document.getElementById('key-dialog').open")
    assert API_KEY not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('dicebox.apiKey')") == API_KEY
    assert browser.execute_script("return localStorage.length") == 0
