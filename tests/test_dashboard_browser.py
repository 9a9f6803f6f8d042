"""The pages in a real browser (Debian's headless Chromium) at a phone's and a laptop's size: no
horizontal scrolling, no accessibility violation found by axe-core, every control by keyboard, a URL
per session, ids that are never reused, and tracks merged into people (the count, the lanes and the
export follow). Screenshots land in ``artifacts/``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_until_serving
from test_browser import ARTIFACTS, _free_port, _requirements, chrome

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SIZES = {"phone": (390, 844), "laptop": (1280, 800)}
AXE = Path(
    os.environ.get("MOODLENS_AXE_JS", Path(__file__).resolve().parents[1] / ".ci" / "cache" / "axe.min.js")
)


@pytest.fixture(scope="module")
def server(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server over a history with two recordings of the real singer clip."""
    _requirements()
    db = tmp_path_factory.mktemp("db") / "history.sqlite3"
    for name in ("rehearsal", "=SUM(A1)"):
        subprocess.run(
            [sys.executable, "-m", "moodlens.cli.main", "video", str(media / "short_hamilton_clip.mp4"),
             "--db", f"sqlite:///{db}", "--consent", "--session-name", name],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    _a_year_of_history(db)
    _a_looping_session(db)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moodlens.cli.main",
            "serve",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{db}",
            "--retention-days",
            "400",
        ],  # the default (30 days) would delete the year of history
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, proc)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def _a_year_of_history(db: Path) -> None:
    """One short session on the first of each month of the past year."""
    from datetime import UTC, datetime, timedelta

    from moodlens.labels import LABELS
    from moodlens.store import HistoryStore

    store = HistoryStore(f"sqlite:///{db}")
    now = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    for month in range(1, 13):
        year, index = divmod(now.year * 12 + now.month - 1 - month, 12)
        started = now.replace(year=year, month=index + 1)
        sid = store.start_session(name=f"month {month}", consent=True, started_at=started)
        row: dict[str, object] = {"session_id": sid, "track_id": 1, "start_ms": 0, "end_ms": 967}
        row.update({"start_at": started, "frames": 30, "dominant": "happy"})
        row.update({f"p_{n}": (0.7 if n == "happy" else 0.05) for n in LABELS})
        row.update({f"t_{n}": (1000.0 if n == "happy" else 0.0) for n in LABELS})
        store.insert([row])
        store.end_session(sid, started + timedelta(seconds=1), media_ms=1000)
    store.close()


LOOPING = "looping clip"


def _a_looping_session(db: Path) -> None:
    """Yesterday, a looping clip: the singer is tracks 1 and 3 (the tracker lost her at the loop),
    the pianist track 2, and track 4 a face on a poster."""
    from datetime import UTC, datetime, timedelta

    from moodlens.labels import LABELS
    from moodlens.store import HistoryStore

    store = HistoryStore(f"sqlite:///{db}")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    sid = store.start_session(name=LOOPING, consent=True, started_at=started)
    spans = {
        1: [(0, "happy"), (1, "happy")],
        2: [(0, "neutral"), (2, "neutral")],
        3: [(2, "happy"), (3, "sad")],
    }
    spans[4] = [(second, "angry") for second in range(4)]
    rows = []
    for track, seconds in spans.items():
        for second, label in seconds:
            row: dict[str, object] = {"session_id": sid, "track_id": track, "start_ms": second * 1000}
            row.update({"end_ms": second * 1000 + 966, "start_at": started, "frames": 30, "dominant": label})
            row.update({f"p_{n}": (0.8 if n == label else 0.2 / 6) for n in LABELS})
            row.update({f"t_{n}": (1000.0 if n == label else 0.0) for n in LABELS})
            rows.append(row)
    store.insert(rows)
    store.end_session(sid, started + timedelta(seconds=4), media_ms=4000)
    store.close()


def test_trends_read_with_a_year_of_data(server: str, browser: tuple[str, object]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, driver = browser
    _open(driver, server, "/dashboard")
    read_keys = (
        "return [...document.querySelectorAll('#trends-table tbody tr')].map(r => r.cells[0].textContent)"
    )
    for period in ("day", "week"):
        Select(driver.find_element(By.ID, "period")).select_by_value(period)  # type: ignore[attr-defined]
        # The table sits in a closed <details>: read its DOM, not its (hidden) rendered text.
        _wait(
            driver,
            lambda d, p=period: (
                d.execute_script(read_keys)
                and d.execute_script("return document.querySelector('#trends-table thead th').textContent")
                == p
            ),
        )
        keys = driver.execute_script(read_keys)  # type: ignore[attr-defined]
        assert len(keys) >= 13, keys  # twelve months ago and today
        assert keys == sorted(set(keys)), keys  # one row per day or week, in order, no repeats
        assert driver.find_elements(By.CSS_SELECTOR, "#trends canvas")  # type: ignore[attr-defined]


@pytest.fixture(scope="module", params=list(SIZES))
def browser(request: pytest.FixtureRequest) -> Iterator[tuple[str, object]]:
    _requirements()
    width, height = SIZES[request.param]
    driver = chrome(width, height)
    yield request.param, driver
    driver.quit()  # type: ignore[attr-defined]


def _wait(driver: object, condition: object, timeout: float = 15) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _sessions(server: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{server}/api/v1/sessions", timeout=5) as reply:
        return list(json.loads(reply.read()))


PAGES = ("/", "/dashboard", "/dashboard/sessions/{id}", "/docs")


def _open(driver: object, server: str, path: str) -> None:
    from selenium.webdriver.common.by import By

    session = _sessions(server)[-1]["id"]
    driver.get(server + path.format(id=session))  # type: ignore[attr-defined]
    if path.startswith("/dashboard/sessions"):
        _wait(
            driver,
            lambda d: (
                d.find_element(By.ID, "detail").is_displayed()
                and d.find_elements(By.CSS_SELECTOR, "#lanes svg")
            ),
        )
    elif path == "/dashboard":
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions a"))
    elif path == "/docs":
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    time.sleep(0.3)


@pytest.mark.parametrize("path", PAGES)
def test_no_horizontal_scrolling(server: str, browser: tuple[str, object], path: str) -> None:
    size, driver = browser
    _open(driver, server, path)
    overflow = driver.execute_script(  # type: ignore[attr-defined]
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    name = path.strip("/").replace("/", "-").replace("{id}", "id") or "live"
    driver.save_screenshot(str(_artifacts() / f"page-{name}-{size}.png"))  # type: ignore[attr-defined]
    assert overflow <= 0, f"{path} at {size}: {overflow} px of horizontal scrolling"


@pytest.mark.parametrize("width", [320, 1920])
def test_no_horizontal_scrolling_at_the_extremes(
    server: str, browser: tuple[str, object], width: int
) -> None:
    """The narrowest phone and a wide monitor, every page (run once, with the laptop's browser)."""
    size, driver = browser
    if size != "laptop":
        pytest.skip("the extremes run once, at the laptop's browser resized")
    driver.set_window_size(width, 900)  # type: ignore[attr-defined]
    try:
        assert driver.execute_script("return window.innerWidth") == width  # type: ignore[attr-defined]
        for path in PAGES:
            _open(driver, server, path)
            overflow = driver.execute_script(  # type: ignore[attr-defined]
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} at {width} px: {overflow} px of horizontal scrolling"
    finally:
        driver.set_window_size(*SIZES[size])  # type: ignore[attr-defined]


def _artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.mark.parametrize("path", ["/", "/dashboard/sessions/{id}", "/docs"])
def test_axe_finds_no_violation(server: str, browser: tuple[str, object], path: str) -> None:
    if not AXE.is_file():
        pytest.skip(f"axe-core not found at {AXE}: .ci/run takes it from the npm registry (MOODLENS_AXE_JS)")
    _, driver = browser
    _open(driver, server, path)
    driver.execute_script(AXE.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    result = driver.execute_async_script(  # type: ignore[attr-defined]
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => "
        "({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));"
    )
    assert result == [], json.dumps(result, indent=1)


def test_a_session_has_its_own_url_and_back_works(server: str, browser: tuple[str, object]) -> None:
    from selenium.webdriver.common.by import By

    _, driver = browser
    sessions = _sessions(server)
    newest, older = sessions[0]["id"], sessions[-1]["id"]
    _open(driver, server, f"/dashboard/sessions/{older}")
    assert f"Session {older}" in driver.find_element(By.ID, "detail-title").text  # type: ignore[attr-defined]
    link = driver.find_element(By.CSS_SELECTOR, f'#sessions a[data-session-id="{newest}"]')  # type: ignore[attr-defined]
    link.click()
    _wait(driver, lambda d: f"Session {newest}" in d.find_element(By.ID, "detail-title").text)
    assert driver.current_url.endswith(f"/dashboard/sessions/{newest}")  # type: ignore[attr-defined]
    driver.back()  # type: ignore[attr-defined]
    _wait(driver, lambda d: f"Session {older}" in d.find_element(By.ID, "detail-title").text)
    people = driver.find_elements(By.CSS_SELECTOR, "#people tbody tr")  # type: ignore[attr-defined]
    lanes = driver.find_elements(By.CSS_SELECTOR, "#lanes svg rect")  # type: ignore[attr-defined]
    assert people and lanes
    assert driver.find_elements(By.CSS_SELECTOR, "#curves canvas")  # type: ignore[attr-defined]


def test_keyboard_alone_opens_exports_and_deletes_a_session(server: str, browser: tuple[str, object]) -> None:
    """Tab and Enter only: open the newest session, reach its export link, delete it (the
    confirmation accepted), and a session recorded afterwards never gets its id back."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    size, driver = browser
    if size != "laptop":
        pytest.skip("the keyboard walk runs once, at the laptop size")
    before = _sessions(server)
    victim = before[0]["id"]
    _open(driver, server, "/dashboard")
    body = driver.find_element(By.TAG_NAME, "body")  # type: ignore[attr-defined]

    def tab_to(predicate: object, limit: int = 60) -> object:
        for _ in range(limit):
            active = driver.switch_to.active_element  # type: ignore[attr-defined]
            if predicate(active):  # type: ignore[operator]
                return active
            active.send_keys(Keys.TAB)
        raise AssertionError("not reachable with the Tab key")

    body.send_keys(Keys.TAB)
    link = tab_to(lambda e: e.get_attribute("data-session-id") == str(victim))
    focus_ring = driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle")  # type: ignore[attr-defined]
    assert focus_ring != "none"  # visible focus
    link.send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: f"Session {victim}" in d.find_element(By.ID, "detail-title").text)
    export = tab_to(lambda e: e.get_attribute("id") == "export-csv")
    with urllib.request.urlopen(export.get_attribute("href"), timeout=10) as reply:  # type: ignore[attr-defined]
        assert reply.read().decode().startswith("session_id,")
    delete = tab_to(lambda e: e.get_attribute("id") == "delete-session")
    delete.send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: d.switch_to.alert)
    driver.switch_to.alert.accept()  # type: ignore[attr-defined]
    _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, f'#sessions a[data-session-id="{victim}"]'))
    assert [s["id"] for s in _sessions(server)] == [s["id"] for s in before[1:]]
    driver.save_screenshot(str(_artifacts() / "dashboard-after-delete.png"))  # type: ignore[attr-defined]


def _axe(driver: object) -> list[object]:
    driver.execute_script(AXE.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    return driver.execute_async_script(  # type: ignore[attr-defined, no-any-return]
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => "
        "({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));"
    )


def test_merging_two_tracks_changes_the_count_the_lanes_and_the_export(
    server: str, browser: tuple[str, object]
) -> None:
    """By keyboard: tick two people, merge them; the count line, the lanes and the CSV export say
    so; a nickname needs the consent box; hiding a track takes it out of the count; undo and show
    bring everything back."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    size, driver = browser
    if size != "laptop":
        pytest.skip("the merge runs once, at the laptop size")
    sid = next(s["id"] for s in _sessions(server) if s["name"] == LOOPING)
    _open(driver, server, f"/dashboard/sessions/{sid}")

    def summary(d: object) -> str:
        return str(d.find_element(By.ID, "detail-summary").text)  # type: ignore[attr-defined]

    def lanes() -> list[str]:
        # Read in one script: the lanes are redrawn after each change.
        return list(
            driver.execute_script(  # type: ignore[attr-defined]
                "return [...document.querySelectorAll('#lanes .lane-label')].map(g => "
                "g.querySelector('.lane-name').textContent + '|' "
                "+ g.querySelector('.lane-tracks').textContent)"
            )
        )

    def exported() -> dict[str, str]:
        href = driver.find_element(By.ID, "export-csv").get_attribute("href")  # type: ignore[attr-defined]
        with urllib.request.urlopen(href, timeout=10) as reply:
            table = csv.DictReader(io.StringIO(reply.read().decode()))
            return {row["track_id"]: row["person"] for row in table}

    def status() -> str:
        return str(driver.find_element(By.ID, "people-status").text)  # type: ignore[attr-defined]

    assert summary(driver).startswith("4 people (4 tracks)")
    assert lanes() == ["Person 1|#1", "Person 2|#2", "Person 3|#3", "Person 4|#4"]
    assert exported() == {"1": "1", "2": "2", "3": "3", "4": "4"}

    driver.find_element(By.ID, "pick-1").send_keys(Keys.SPACE)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "pick-3").send_keys(Keys.SPACE)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "merge").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: summary(d).startswith("3 people (4 tracks)"))
    assert lanes() == ["Person 1|#1 #3", "Person 2|#2", "Person 4|#4"]
    assert "Merged into Person 1 (#1 #3)" in status()
    assert exported() == {"1": "1", "2": "2", "3": "1", "4": "4"}
    row = driver.find_element(By.CSS_SELECTOR, f'#sessions a[data-session-id="{sid}"]')  # type: ignore[attr-defined]
    assert "3 people (4 tracks)" in row.find_element(By.XPATH, "./ancestor::tr").text
    people = driver.find_elements(By.CSS_SELECTOR, "#people tbody tr")  # type: ignore[attr-defined]
    assert [p.find_elements(By.TAG_NAME, "td")[1].text for p in people] == ["#1 #3", "#2", "#4"]

    # A nickname: refused without the consent box, kept with it.
    Select(driver.find_element(By.ID, "rename-person")).select_by_value("1")
    name = driver.find_element(By.ID, "nickname")  # type: ignore[attr-defined]
    name.send_keys("Singer", Keys.ENTER)
    _wait(driver, lambda d: "Tick the box" in status())
    assert driver.switch_to.active_element.get_attribute("id") == "nickname-consent"  # type: ignore[attr-defined]
    driver.switch_to.active_element.send_keys(Keys.SPACE)  # type: ignore[attr-defined]
    name.send_keys(Keys.ENTER)
    _wait(driver, lambda d: lanes()[0] == "Singer|#1 #3")

    # Hide the poster: out of the count and the lanes.
    Select(driver.find_element(By.ID, "track-choice")).select_by_value("4")
    driver.find_element(By.ID, "hide").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: summary(d).startswith("2 people (4 tracks, 1 hidden)"))
    assert lanes() == ["Singer|#1 #3", "Person 2|#2"] and "4" not in exported()
    assert driver.find_element(By.ID, "hide").text == "Show it again"  # type: ignore[attr-defined]
    driver.save_screenshot(str(_artifacts() / "dashboard-people.png"))  # type: ignore[attr-defined]
    if AXE.is_file():
        assert _axe(driver) == [], "axe found violations with the people tools in use"

    # Undo: the merge, then the hiding.
    driver.find_element(By.ID, "undo-merge").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: summary(d).startswith("3 people (4 tracks, 1 hidden)"))
    assert lanes() == ["Singer|#1", "Person 2|#2", "Person 3|#3"]
    driver.find_element(By.ID, "hide").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: summary(d).startswith("4 people (4 tracks)"))
    assert exported() == {"1": "1", "2": "2", "3": "3", "4": "4"}
