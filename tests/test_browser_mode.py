"""Browser mode of the live page, end to end in Debian's headless Chromium with the fake camera: the
page analyses the camera itself (static/engine/, onnxruntime-web), says the frames stay on the
device, records a session through observations alone (the page sends no binary message, and the
server counts none), and the session shows in the dashboard; when the engine cannot load (its
runtime blocked through the DevTools protocol) the page falls back to the server and says why.
axe-core (WCAG 2.2 AA) passes on the new states: loading the model, browser mode, the fallback.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_until_serving
from test_browser import _free_port, _requirements, check_state, chrome, to_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Counts what the page sends over its WebSockets: text messages by type, and binary ones.
_WATCH_SOCKET = """
window.sentLog = {binary: 0, text: {}};
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (typeof data === 'string') {
    const type = JSON.parse(data).type;
    window.sentLog.text[type] = (window.sentLog.text[type] || 0) + 1;
  } else {
    window.sentLog.binary += 1;
  }
  return send.call(this, data);
};
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _requirements()
    port = _free_port()
    db = tmp_path_factory.mktemp("db") / "history.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moodlens.cli.main", "serve", "--port", str(port), "--db", f"sqlite:///{db}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, proc)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def camera(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return to_y4m(media / "short_hamilton_clip.mp4", tmp_path_factory.mktemp("camera") / "camera.y4m")


def _camera_chrome(camera: Path) -> Any:
    return chrome(
        1280,
        1000,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    )


def _consent(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "consent-check").click()
    driver.find_element(By.ID, "consent-accept").click()


def test_browser_mode_records_a_session_without_sending_a_frame(server: str, camera: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    driver = _camera_chrome(camera)
    wait = WebDriverWait(driver, 20)
    find = driver.find_element
    try:
        driver.get(f"{server}/")
        # Cross-origin isolated (COOP + COEP on the page): the engine may use WebAssembly threads;
        # everything the page loads is its own server's, so require-corp blocked nothing.
        assert driver.execute_script("return crossOriginIsolated") is True
        driver.execute_script(_WATCH_SOCKET)
        assert find(By.ID, "mode-device").is_selected()
        _consent(driver)
        # The model loads once the live controls show: said in the status line (a live region).
        assert find(By.ID, "status").text == "Loading the model…"
        check_state(driver, "live-browser-loading-model")
        where = find(By.ID, "where")
        assert "Your camera frames stay on this device" in where.text
        assert where.get_attribute("data-mode") == "browser"
        assert not find(By.ID, "link-people").is_enabled()  # it needs frames on the server
        wait.until(lambda d: "Model ready" in d.find_element(By.ID, "status").text)
        find(By.ID, "session-name").send_keys("on this device")
        # From Start to the first face listed (the model was loaded while the consent was read).
        driver.execute_script(
            "new MutationObserver((_, o) => { window.firstFace = performance.now(); o.disconnect(); })"
            ".observe(document.getElementById('face-list'), {childList: true});"
            "window.startedAt = performance.now(); document.getElementById('start').click();"
        )
        face = "const li = document.querySelector('#face-list li'); return li ? li.textContent : '';"
        wait.until(lambda d: re.search("apparent|uncertain", d.execute_script(face)))
        wait.until(lambda d: "Apparent expression of #" in d.find_element(By.ID, "headline").text)
        first_label_ms = driver.execute_script("return window.firstFace - window.startedAt")
        status = find(By.ID, "status").text
        assert re.search(r"analysing on this device, recording session \d+", status), status
        # A frame may hold no face (a miss, a cut in the looping clip) while the headline holds:
        # wait for one that does, rather than read whichever frame is current.
        wait.until(lambda d: (d.execute_script("return window.moodlensView") or {}).get("faces"))
        view = driver.execute_script("return window.moodlensView")
        assert view["mode"] == "browser" and view["width"] > 0, view
        check_state(driver, "live-browser-mode")
        time.sleep(2)  # a couple of seconds recorded
        fps = find(By.ID, "fps").text
        find(By.ID, "stop").click()
        wait.until(lambda d: "Stopped after" in d.find_element(By.ID, "status").text)
        summary = find(By.ID, "status").text
        assert re.search(r"\d+ (person|people) \(\d+ tracks?\)", summary), summary
        assert "saved as session" in summary and "\n" not in summary, summary
        link = find(By.CSS_SELECTOR, "#status a")
        assert link.text == "Open in dashboard"
        session_id = int(re.search(r"/dashboard/sessions/(\d+)$", link.get_attribute("href")).group(1))
        # Both sides: the page sent no binary message, and the server received none.
        sent = driver.execute_script("return window.sentLog")
        stopped = driver.execute_script("return window.moodlensStopped")
        assert sent["binary"] == 0 and sent["text"].get("observations", 0) >= 10, sent
        assert stopped["mode"] == "browser" and stopped["binary_messages"] == 0, stopped
        assert stopped["session_id"] == session_id and stopped["frames"] >= 10

        # The session shows in the dashboard as a server-mode one does.
        with urllib.request.urlopen(f"{server}/api/v1/sessions/{session_id}", timeout=10) as response:
            import json

            stored = json.loads(response.read())
        assert stored["name"] == "on this device" and stored["people"], stored
        link.click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lanes svg rect"))
        assert "on this device" in find(By.ID, "sessions").text
        print(
            f"browser mode: first label {first_label_ms:.0f} ms after Start, {fps},"
            f" {stopped['frames']} observations; {time.monotonic() - started:.0f} s"
        )
    finally:
        driver.quit()


def test_the_page_falls_back_to_the_server_when_the_engine_cannot_load(server: str, camera: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _camera_chrome(camera)
    wait = WebDriverWait(driver, 20)
    find = driver.find_element
    try:
        # The engine's runtime cannot be fetched (as in a browser or network that blocks it).
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/engine/ort/*"]})
        driver.get(f"{server}/")
        driver.execute_script(_WATCH_SOCKET)
        _consent(driver)
        wait.until(lambda d: d.find_element(By.ID, "where").get_attribute("data-fallback") == "true")
        assert find(By.ID, "mode-server").is_selected()
        assert "could not run the analysis itself" in find(By.ID, "status").text
        assert "Camera frames are sent to the server" in find(By.ID, "where").text
        check_state(driver, "live-browser-fallback")
        find(By.ID, "record").click()  # nothing recorded for this one
        find(By.ID, "start").click()
        wait.until(lambda d: "Apparent expression of #" in d.find_element(By.ID, "headline").text)
        assert driver.execute_script("return window.moodlensView.mode") == "server"
        find(By.ID, "stop").click()
        wait.until(lambda d: "Stopped after" in d.find_element(By.ID, "status").text)
        stopped = driver.execute_script("return window.moodlensStopped")
        assert stopped["mode"] == "server" and stopped["binary_messages"] > 0, stopped
        sent = driver.execute_script("return window.sentLog.binary")
        assert 0 <= sent - stopped["binary_messages"] <= 1, (sent, stopped)  # one may cross the stop
    finally:
        driver.quit()


def test_browser_mode_runs_with_the_network_cut_once_loaded(server: str, camera: Path) -> None:
    """Once the model has loaded, the page needs no network: offline, without Record history, it
    analyses the camera and counts the stop summary itself (nothing was sent anywhere)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _camera_chrome(camera)
    wait = WebDriverWait(driver, 20)
    find = driver.find_element
    try:
        driver.get(f"{server}/")
        driver.execute_script(_WATCH_SOCKET)
        _consent(driver)
        wait.until(lambda d: "Model ready" in d.find_element(By.ID, "status").text)
        find(By.ID, "record").click()  # not recording: no server needed
        conditions = {"latency": 0, "download_throughput": 1 << 20, "upload_throughput": 1 << 20}
        driver.set_network_conditions(offline=True, **conditions)
        find(By.ID, "start").click()
        wait.until(lambda d: "Apparent expression of #" in d.find_element(By.ID, "headline").text)
        assert "analysing on this device, not recording" in find(By.ID, "status").text
        time.sleep(1)
        find(By.ID, "stop").click()
        wait.until(lambda d: "Stopped after" in d.find_element(By.ID, "status").text)
        summary = find(By.ID, "status").text
        assert re.search(r"\d+ (person|people) \(\d+ tracks?\) · mostly \w+ \d+%", summary), summary
        assert "not saved (Record history was off)" in summary
        assert driver.execute_script("return window.sentLog") == {"binary": 0, "text": {}}
        assert not find(By.ID, "connection").is_displayed()  # no server was needed: no banner
    finally:
        driver.quit()
