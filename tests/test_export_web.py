"""``moodlens export-web``: its refusals, the exported tree (every file the page loads is there, at
the path it loads it from), and the export served by a plain static HTTP server on loopback, run in
headless Chromium with the fake camera: browser mode only, no /api/ call and no WebSocket, history
kept in the browser's storage, axe-core 0 violations."""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from moodlens.cli.export_web import HEADERS, MARKER
from moodlens.cli.main import main

_IMPORT = re.compile(r"""(?:^|\n)\s*(?:import|export)\s[^;]*?\bfrom\s+["'](\.{1,2}/[^"']+)["']""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("web") / "site"
    assert main(["export-web", str(target)]) == 0
    return target


# --- refusals ---------------------------------------------------------------------------------------


def _one_line_refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("moodlens export-web: "), err
    return err


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert "not empty" in _one_line_refusal(["export-web", str(tmp_path)], capsys)
    # --force replaces only a previous export.
    assert "not a previous export" in _one_line_refusal(["export-web", "--force", str(tmp_path)], capsys)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert not (tmp_path.parent / f"{tmp_path.name}.tmp").exists()


def test_refuses_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("")
    assert "not a folder" in _one_line_refusal(["export-web", str(tmp_path / "a-file")], capsys)


def test_force_replaces_a_previous_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "site"
    target.mkdir()  # an empty folder is fine
    assert main(["export-web", str(target)]) == 0
    (target / "stale.js").write_text("")
    _one_line_refusal(["export-web", str(target)], capsys)
    assert main(["export-web", "--force", str(target)]) == 0
    assert "removed 1 file(s) the new export does not write: stale.js" in capsys.readouterr().out
    assert (target / MARKER).is_file() and not (target / "stale.js").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # nothing left beside it


def test_a_folder_named_like_a_temporary_one_is_not_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site.tmp").mkdir()
    (tmp_path / "site.tmp" / "drafts.txt").write_text("mine")
    assert main(["export-web", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site.tmp" / "drafts.txt").read_text() == "mine"
    # "." and "name/" are folders like any other.
    (tmp_path / "here").mkdir()
    (tmp_path / "here").chmod(0o2775)  # a shared folder: setgid, group-writable
    inode = (tmp_path / "here").stat().st_ino
    monkeypatch.chdir(tmp_path / "here")
    for force in ([], ["--force"]):  # into an empty folder, then over that export
        assert main(["export-web", *force, "."]) == 0
        assert (Path.cwd() / MARKER).is_file()  # this shell's folder is the export, not a deleted one
        here = (tmp_path / "here").stat()
        assert here.st_ino == inode and here.st_mode & 0o7777 == 0o2775  # the folder itself stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "site", "site.tmp"]
    mode = (tmp_path / "here" / "index.html").stat().st_mode
    assert mode & 0o044 == 0o044  # readable by a web server's user (group and others)


# --- the exported tree ------------------------------------------------------------------------------


def _loaded_by_page(root: Path) -> set[str]:
    """The paths (from the export's folder, as /path) the page loads: its links and scripts, the
    ES modules they import, the constants, the runtime and the models the constants name."""
    html = (root / "index.html").read_text("utf-8")
    linked = re.findall(r'(?:src|href)="([^"#?]*)"', html)
    # Every link is relative to the page (the folder may be served below a host's root).
    assert not [link for link in linked if link.startswith("/")], linked
    paths = {"/" + str(Path(link)) if link not in ("", "./") else "/" for link in linked}
    todo = [p for p in paths if p.endswith(".js")]
    while todo:
        module = todo.pop()
        for spec in _IMPORT.findall((root / module.lstrip("/")).read_text("utf-8")):
            path = str(Path(module).parent.joinpath(spec).resolve())
            if path not in paths:
                paths.add(path)
                todo.append(path)
    constants = json.loads((root / "engine" / "constants.json").read_text("utf-8"))
    paths |= {"/engine/constants.json", "/models/index.json", "/engine/ort/ort.wasm.min.mjs"}
    paths |= {"/engine/ort/ort-wasm-simd-threaded.mjs", "/engine/ort/ort-wasm-simd-threaded.wasm"}
    for name in (
        constants["detector"]["model"],
        constants["classifier"]["model"],
        constants["classifier"]["metadata"],
    ):
        paths.add(f"/models/{name}")
    return paths


def test_every_file_the_page_loads_is_exported(exported: Path) -> None:
    paths = _loaded_by_page(exported)
    assert {"/static/live.js", "/static/local-history.js", "/static/engine/engine.js"} <= paths
    missing = sorted(p for p in paths if p != "/" and not (exported / p.lstrip("/")).is_file())
    assert missing == []
    index = json.loads((exported / "models" / "index.json").read_text("utf-8"))
    for name, entry in index["files"].items():
        assert (exported / "models" / name).stat().st_size == entry["bytes"]
        assert entry["url"].startswith(f"{name}?v=")  # relative to models/
    html = (exported / "index.html").read_text("utf-8")
    assert '<meta name="moodlens-mode" content="static">' in html
    assert 'href="/dashboard"' not in html and 'href="/docs"' not in html  # they need a server


def test_the_export_says_which_headers_a_host_sends(exported: Path) -> None:
    headers = (exported / "_headers").read_text("utf-8")
    for name, value in HEADERS.items():
        assert f"  {name}: {value}\n" in headers
    assert "'wasm-unsafe-eval'" in headers
    readme = (exported / "README.txt").read_text("utf-8")
    assert "Cross-Origin-Embedder-Policy: require-corp" in readme and "single-threaded" in readme
    # Nothing the dashboard or the API pages need (they need a server).
    assert (
        not (exported / "static" / "dashboard.js").exists() and not (exported / "static" / "vendor").exists()
    )


# --- in a browser, from a static server -------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    """A static host that sends the headers the export's README asks for, and notes every path."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
    }
    requested: ClassVar[list[tuple[str, int]]] = []

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def send_response(self, code: int, message: str | None = None) -> None:
        type(self).requested.append((self.path, code))
        super().send_response(code, message)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_host(exported: Path) -> Iterator[str]:
    """A static host serving the export from a folder below its root (as a project site is), so
    that any path the page took from the host's root would fail."""
    from test_browser import _requirements

    _requirements()
    site = exported.parent
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{exported.name}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_export_runs_from_a_static_host(static_host: str, media: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_browser import check_state, chrome, to_y4m

    camera = to_y4m(media / "short_hamilton_clip.mp4", tmp_path / "camera.y4m", max_frames=90)
    started = time.monotonic()
    driver: Any = chrome(
        1280,
        1000,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    )
    wait = WebDriverWait(driver, 20)
    find = driver.find_element
    _Handler.requested.clear()
    try:
        driver.get(f"{static_host}/")
        assert driver.execute_script("return crossOriginIsolated") is True  # the host's headers
        driver.execute_script(
            "window.sockets = 0; const WS = WebSocket;"
            "window.WebSocket = function (...a) { window.sockets++; return new WS(...a); };"
        )
        assert "There is no server" in find(By.ID, "consent-where").text
        assert "this browser's own storage" in find(By.ID, "consent-record").text
        find(By.ID, "consent-check").click()
        find(By.ID, "consent-accept").click()
        wait.until(lambda d: "Model ready" in d.find_element(By.ID, "status").text)
        assert "No server: your frames and results stay in this browser" in find(By.ID, "where").text
        assert not find(By.ID, "mode").is_displayed()  # nothing to choose: this device only
        assert find(By.ID, "browser-history-state").text == "Nothing kept in this browser."
        find(By.ID, "session-name").send_keys("static")
        find(By.ID, "start").click()
        wait.until(lambda d: "Apparent expression of #" in d.find_element(By.ID, "headline").text)
        assert "recording in this browser" in find(By.ID, "status").text
        # The list is rebuilt on every result (read in one go), and a frame may hold no face (a
        # miss, a cut in the looping clip): wait for one that does.
        face = "const li = document.querySelector('#face-list li'); return li ? li.textContent : '';"
        wait.until(lambda d: re.search("apparent|uncertain", d.execute_script(face)))
        check_state(driver, "static-export-running")
        time.sleep(1)
        find(By.ID, "stop").click()
        wait.until(lambda d: "Stopped after" in d.find_element(By.ID, "status").text)
        summary = find(By.ID, "status").text
        assert re.search(r"\d+ (person|people) \(\d+ tracks?\)", summary), summary
        assert summary.endswith("kept in this browser's history."), summary
        assert find(By.ID, "browser-history-state").text.startswith("1 session kept in this browser")
        kept = driver.execute_script("return JSON.parse(localStorage.getItem('moodlens.history'))")
        assert len(kept) == 1 and kept[0]["name"] == "static" and kept[0]["observations"]
        first = next(f for o in kept[0]["observations"] for f in o["faces"])
        assert set(first) == {"track_id", "stable_label", "smoothed_probabilities"}  # labels only
        check_state(driver, "static-export-stopped")
        assert find(By.ID, "browser-history-export").is_enabled()
        find(By.ID, "browser-history-delete").click()
        assert find(By.ID, "browser-history-state").text == "Nothing kept in this browser."
        assert driver.execute_script("return localStorage.getItem('moodlens.history')") is None
        assert driver.execute_script("return window.sockets") == 0
    finally:
        driver.quit()
    paths = [path for path, _ in _Handler.requested]
    assert not [p for p in paths if p.startswith("/api/")], paths
    folder = "/" + static_host.rsplit("/", 1)[1] + "/"
    assert all(p.startswith(folder) for p in paths), paths  # nothing from the host's root
    assert [(p, code) for p, code in _Handler.requested if code >= 400] == []
    assert time.monotonic() - started < 30


def test_needs_no_extra(tmp_path: Path) -> None:
    """A static export needs no server, so not the serve extra (nor any other)."""
    from test_install import moodlens_without_extras

    result = moodlens_without_extras("export-web", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "static" / "live.js").is_file()
