"""The pages in a real browser (Debian's headless Chromium) at a phone's and a laptop's size: no
horizontal scrolling, no accessibility violation found by axe-core, every control by keyboard, a URL
per session, ids that are never reused, and tracks merged into people (the count, the lanes and the
export follow). Screenshots land in ``artifacts/``."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_until_serving
from test_browser import (
    ARTIFACTS,
    AXE,
    _free_port,
    _requirements,
    active_id,
    axe_violations,
    check_state,
    chrome,
    press,
    tab_to,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SIZES = {"phone": (390, 844), "laptop": (1280, 800)}
STATIC = Path(__file__).resolve().parents[1] / "src" / "moodlens" / "service" / "static"


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


@pytest.mark.parametrize("path", ["/", "/dashboard", "/dashboard/sessions/{id}", "/docs"])
def test_axe_finds_no_violation(server: str, browser: tuple[str, object], path: str) -> None:
    """axe-core's WCAG 2.2 A and AA rules (and its best practices) on each page as it opens."""
    if not AXE.is_file():
        pytest.skip(f"axe-core not found at {AXE}: .ci/run takes it from the npm registry (MOODLENS_AXE_JS)")
    _, driver = browser
    _open(driver, server, path)
    result = axe_violations(driver)
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


def test_the_dashboard_by_keyboard_alone(server: str, browser: tuple[str, object]) -> None:
    """Keys only, at both sizes: open a session from the list (its detail focused and scrolled to),
    unfold and fold its short tracks, cross the lanes with the arrows (one tab stop; the tooltip
    and the crosshair follow; Enter shows that person's curves), sort the people table from its
    headers, switch the trends to weeks (valence and shares on charts of their own). axe-core and
    a screenshot at each state."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    size, driver = browser
    _open(driver, server, "/dashboard")
    check_state(driver, f"dashboard-{size}")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # type: ignore[attr-defined]
    tab_to(driver, lambda e: e.text == "rehearsal")
    press(driver, Keys.ENTER)
    _wait(driver, lambda d: active_id(d) == "detail-title")
    assert driver.execute_script(  # type: ignore[attr-defined]
        "const r = document.getElementById('detail-title').getBoundingClientRect();"
        "return r.top >= -1 && r.bottom <= innerHeight + 1"
    ), "the opened session is scrolled into view"
    glance = driver.find_element(By.ID, "glance").text  # type: ignore[attr-defined]
    assert re.fullmatch(r"[\d.]+ (s|min) · \d+ (person|people) · mostly \w+ \d+%(, \w+ \d+%)?", glance), (
        glance
    )

    def lanes() -> int:
        return int(driver.execute_script("return document.querySelectorAll('#lanes [role=row]').length"))  # type: ignore[attr-defined]

    tab_to(driver, lambda e: e.get_attribute("id") == "fold")
    fold = driver.switch_to.active_element  # type: ignore[attr-defined]
    assert (
        re.fullmatch(r"Show \d+ tracks? under 1 s \(folded\)", fold.text)
        and fold.get_attribute("aria-expanded") == "false"
    )
    folded = lanes()
    press(driver, Keys.ENTER)
    assert fold.get_attribute("aria-expanded") == "true" and lanes() > folded
    press(driver, Keys.ENTER)
    assert lanes() == folded and active_id(driver) == "fold"

    press(driver, Keys.TAB)
    first = driver.switch_to.active_element.get_attribute("aria-label")  # type: ignore[attr-defined]
    press(driver, Keys.ARROW_DOWN)
    below = driver.switch_to.active_element.get_attribute("aria-label")  # type: ignore[attr-defined]
    assert below.split(" (#")[0] != first.split(" (#")[0], (first, below)  # another person's lane
    press(driver, Keys.ARROW_RIGHT)
    shown = driver.execute_script(  # type: ignore[attr-defined]
        "return [document.querySelector('.tooltip:not(.hidden)')?.textContent || '',"
        " !!document.querySelector('#lanes .crosshair:not(.hidden)')]"
    )
    assert shown[0] and shown[1], shown
    who = driver.switch_to.active_element.get_attribute("aria-label").split(" (#")[0]  # type: ignore[attr-defined]
    press(driver, Keys.ENTER)
    chosen = driver.execute_script(
        "const s = document.getElementById('person'); return s.options[s.selectedIndex].text"
    )  # type: ignore[attr-defined]
    assert chosen.startswith(who), (who, chosen)
    press(driver, Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("role") != "gridcell", "the lanes are one tab stop"  # type: ignore[attr-defined]

    def sorted_by() -> list[str]:
        return list(
            driver.execute_script(  # type: ignore[attr-defined]
                "return [...document.querySelectorAll('#people th[aria-sort]')]"
                ".map(t => t.textContent + ':' + t.getAttribute('aria-sort'))"
            )
        )

    assert sorted_by() == ["person ▲:ascending"], sorted_by()  # the lanes' order
    tab_to(driver, lambda e: e.get_attribute("data-sort") == "valence", limit=60)
    press(driver, Keys.ENTER)
    assert active_id(driver) == "" and driver.switch_to.active_element.get_attribute("data-sort") == "valence"  # type: ignore[attr-defined]
    assert len(sorted_by()) == 1 and sorted_by()[0].endswith(":ascending"), sorted_by()
    valences = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#people tbody tr')]"
        ".map(r => parseFloat(r.cells[5].textContent))"
    )
    assert valences == sorted(valences), valences
    # A share's name is written whole or not at all (never "surpris").
    cut = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('.share-bar .plate')]"
        ".filter(p => p.offsetWidth > p.parentElement.clientWidth"
        " || p.scrollWidth > p.clientWidth + 1).map(p => p.textContent)"
    )
    assert cut == []

    # The curves zoom by keyboard as by a drag (the valence chart follows), and say what they show.
    def shown() -> str:
        return str(driver.find_element(By.ID, "curves-range").text)  # type: ignore[attr-defined]

    def follows(lo: float) -> bool:  # both charts show one window, starting at ``lo``
        boxes = driver.execute_script(  # type: ignore[attr-defined]
            "return ['curves', 'valence'].map(id => document.getElementById(id).dataset.window)"
        )
        return boxes[0] == boxes[1] and abs(float(boxes[0].split("-")[0]) - lo) < 0.06

    assert shown().startswith("Showing the whole session ("), shown()
    tab_to(driver, lambda e: e.get_attribute("data-zoom") == "in", limit=80)
    press(driver, Keys.ENTER)
    zoomed = re.fullmatch(r"Showing ([\d.]+) s to ([\d.]+) s of ([\d.]+) s\.", shown())
    assert zoomed, shown()
    lo, hi, total = map(float, zoomed.groups())
    assert abs((hi - lo) - total / 2) < 0.15 and 0 <= lo < hi <= total, (lo, hi, total)
    assert follows(lo)
    press(driver, Keys.ENTER)
    again = re.fullmatch(r"Showing ([\d.]+) s to ([\d.]+) s of [\d.]+ s\.", shown())
    assert again and abs(float(again[2]) - float(again[1]) - total / 4) < 0.15, shown()
    tab_to(driver, lambda e: e.get_attribute("data-zoom") == "whole", limit=5)
    press(driver, Keys.ENTER)
    assert shown().startswith("Showing the whole session ("), shown()
    # A drag zooms both charts (it did nothing before: the time scale ignored the window asked
    # for), and a double-click shows the whole session again.
    from selenium.webdriver.common.action_chains import ActionChains

    over = driver.find_element(By.CSS_SELECTOR, "#curves .u-over")  # type: ignore[attr-defined]
    width = over.size["width"]
    ActionChains(driver).move_to_element_with_offset(over, -width // 4, 0).click_and_hold().move_by_offset(
        width // 2, 0
    ).release().perform()
    dragged = re.fullmatch(r"Showing ([\d.]+) s to ([\d.]+) s of [\d.]+ s\.", shown())
    assert dragged and float(dragged[2]) - float(dragged[1]) < total * 0.6, shown()
    assert follows(float(dragged[1]))
    ActionChains(driver).double_click(over).perform()
    assert shown().startswith("Showing the whole session ("), shown()

    # The curves' legend: each entry a toggle button by keyboard (it was click-only).
    tab_to(driver, lambda e: e.get_attribute("role") == "button" and e.tag_name == "tr", limit=80)
    entry = driver.switch_to.active_element  # type: ignore[attr-defined]
    named = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert entry.get_attribute("aria-pressed") == "true" and entry.text.startswith(named), entry.text
    press(driver, Keys.ENTER)
    assert entry.get_attribute("aria-pressed") == "false" and "u-off" in entry.get_attribute("class")
    press(driver, Keys.SPACE)
    assert entry.get_attribute("aria-pressed") == "true" and "u-off" not in entry.get_attribute("class")
    check_state(driver, f"dashboard-session-{size}")

    tab_to(driver, lambda e: e.get_attribute("id") == "period", limit=80)
    press(driver, Keys.ARROW_DOWN)
    _wait(
        driver,
        lambda d: (
            d.execute_script("return document.querySelector('#trends-table thead th')?.textContent") == "week"
        ),
    )
    axes = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#trends .u-title, #trends-shares .u-title')]"
        ".map(t => t.textContent)"
    )
    assert axes == ["Valence index", "Share of time per expression"], axes
    check_state(driver, f"dashboard-trends-{size}")


def test_a_missing_session_says_so_and_names_no_database(server: str, browser: tuple[str, object]) -> None:
    from selenium.webdriver.common.by import By

    size, driver = browser
    if size != "laptop":
        pytest.skip("once, at the laptop size")
    driver.get(f"{server}/dashboard/sessions/999")  # type: ignore[attr-defined]
    _wait(driver, lambda d: "no session 999" in d.find_element(By.ID, "notice").text)
    text = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert not re.search(r"sqlite|postgres|history\.sqlite3|/tmp/|pytest-of", text, re.IGNORECASE), text
    assert not driver.find_element(By.ID, "detail").is_displayed()  # type: ignore[attr-defined]
    check_state(driver, "dashboard-missing-session")


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
        assert axe_violations(driver) == [], "axe found violations with the people tools in use"

    # Undo: the merge, then the hiding.
    driver.find_element(By.ID, "undo-merge").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: summary(d).startswith("3 people (4 tracks, 1 hidden)"))
    assert lanes() == ["Singer|#1", "Person 2|#2", "Person 3|#3"]
    driver.find_element(By.ID, "hide").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    _wait(driver, lambda d: summary(d).startswith("4 people (4 tracks)"))
    assert exported() == {"1": "1", "2": "2", "3": "3", "4": "4"}


# --- the palette, read without colour vision ------------------------------------------------------

# Machado, Oliveira & Fernandes (2009), severity 1, on linear RGB.
_CVD = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900),
    ),
}  # fmt: skip


def _linear(hex_colour: str) -> list[float]:
    values = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in values]


def _lab(rgb: list[float]) -> tuple[float, float, float]:
    r, g, b = (min(1.0, max(0.0, v)) for v in rgb)
    xyz = (
        (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047,
        0.2126729 * r + 0.7151522 * g + 0.0721750 * b,
        (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _ciede2000(one: tuple[float, float, float], two: tuple[float, float, float]) -> float:
    from math import atan2, cos, degrees, exp, hypot, radians, sin, sqrt

    (l1, a1, b1), (l2, a2, b2) = one, two
    mean_c = (hypot(a1, b1) + hypot(a2, b2)) / 2
    g = 0.5 * (1 - sqrt(mean_c**7 / (mean_c**7 + 25**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = hypot(a1, b1), hypot(a2, b2)
    h1, h2 = degrees(atan2(b1, a1)) % 360, degrees(atan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    dl, dc, big_dh = l2 - l1, c2 - c1, 2 * sqrt(c1 * c2) * sin(radians(dh / 2))
    mean_l, mean_c = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        mean_h = h1 + h2
    elif abs(h1 - h2) <= 180:
        mean_h = (h1 + h2) / 2
    else:
        mean_h = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (
        1 - 0.17 * cos(radians(mean_h - 30)) + 0.24 * cos(radians(2 * mean_h))
        + 0.32 * cos(radians(3 * mean_h + 6)) - 0.20 * cos(radians(4 * mean_h - 63))
    )  # fmt: skip
    rotation = (
        -sin(radians(60 * exp(-(((mean_h - 275) / 25) ** 2)))) * 2 * sqrt(mean_c**7 / (mean_c**7 + 25**7))
    )
    sl = 1 + 0.015 * (mean_l - 50) ** 2 / sqrt(20 + (mean_l - 50) ** 2)
    sc, sh = 1 + 0.045 * mean_c, 1 + 0.015 * mean_c * t
    return sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (big_dh / sh) ** 2 + rotation * (dc / sc) * (big_dh / sh))


def _contrast(hex_colour: str, other: str = "#ffffff") -> float:
    def luminance(colour: str) -> float:
        r, g, b = _linear(colour)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(hex_colour), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_palette_is_told_apart_with_any_colour_vision() -> None:
    """The pages' palette (static/palette.js): every pair of expressions at least 12 CIEDE2000 apart
    with normal vision and simulated protanopia, deuteranopia and tritanopia; every colour at least
    3:1 on white, with black or white text on it at 4.5:1. The previous palette: 1.8 (surprise and
    neutral, deuteranopia)."""
    import itertools

    text = (STATIC / "palette.js").read_text(encoding="utf-8")
    block = text[text.index("export const PALETTE") :].split("};")[0]
    palette = dict(re.findall(r'(\w+): "(#[0-9a-f]{6})"', block))
    assert list(palette) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    worst = {}
    for vision, matrix in {"normal": None, **_CVD}.items():
        seen = {}
        for label, colour in palette.items():
            rgb = _linear(colour)
            if matrix is not None:
                rgb = [sum(m * v for m, v in zip(row, rgb, strict=True)) for row in matrix]
            seen[label] = _lab(rgb)
        worst[vision] = min(
            (_ciede2000(seen[a], seen[b]), a, b) for a, b in itertools.combinations(palette, 2)
        )
    print({vision: f"{d:.1f} ({a}/{b})" for vision, (d, a, b) in worst.items()})
    assert all(d >= 12 for d, _, _ in worst.values()), worst
    for label, colour in palette.items():
        assert _contrast(colour) >= 3.0, (label, colour)
        assert max(_contrast(colour, "#000000"), _contrast(colour)) >= 4.5, (label, colour)


# --- the pages' pure modules under Node (no browser) ------------------------------------------------

_PAGE_UNITS = r"""
import assert from "node:assert/strict";
const base = process.argv[2];  // the static folder, as a file: URL
const { whyClosed, backoff, BACKOFF_MS } = await import(`${base}/connection.js`);
const { explain } = await import(`${base}/camera.js`);
const { stopLine, saved } = await import(`${base}/summary.js`);
const { glance, pooledShares, topShares } = await import(`${base}/format.js`);
const { PALETTE, inkOn, contrast } = await import(`${base}/palette.js`);
const { safeMessage } = await import(`${base}/api.js`);
const { timeWindow } = await import(`${base}/curves.js`);
// The curves' time window, for a person seen from 40 s to 60 s of a 100 s session: a first draw
// and a double-click (uPlot asks for exactly the first and last points) show the session; a
// window asked for (a drag, a zoom button) is kept, within the session, even around that stretch.
{
  const { whole, range } = timeWindow([40, 45, 45, 50, 50, 60], 100000);
  assert.deepEqual(whole, [0, 100]);
  assert.deepEqual(range(null, null, null), [0, 100]);
  assert.deepEqual(range(null, 40, 60), [0, 100]);
  assert.deepEqual(range(null, 25, 75), [25, 75]);
  assert.deepEqual(range(null, 30, 70), [30, 70]);
  assert.deepEqual(range(null, -5, 120), [0, 100]);
  assert.deepEqual(range(null, 42, 58), [42, 58]);
}
// Why a socket closed.
for (const [code, opened, online, kind] of [
  [1012, true, true, "restart"], [1001, true, true, "restart"], [1000, true, true, "restart"],
  [1006, true, true, "crash"], [1011, true, true, "crash"], [1013, true, true, "busy"],
  [1008, true, true, "refused"],
  [1006, false, true, "network"], [1012, true, false, "network"],
]) assert.equal(whyClosed(code, opened, online), kind, `${code} ${opened} ${online}`);
assert.equal(backoff(0, () => 0.5), BACKOFF_MS[0]);
assert.equal(backoff(99, () => 0.5), BACKOFF_MS.at(-1));
// Camera errors in words, with this browser's fix.
const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
  + "Chrome/120.0 Safari/537.36";
const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
assert.equal(explain({ name: "NotAllowedError" }, chrome).kind, "denied");
assert.match(explain({ name: "NotAllowedError" }, chrome).steps[0], /address bar/);
assert.match(explain({ name: "NotAllowedError" }, firefox).steps[0], /crossed-out camera/);
assert.equal(explain({ name: "NotFoundError" }, chrome).kind, "missing");
assert.equal(explain({ name: "NotReadableError" }, chrome).kind, "busy");
assert.equal(explain({ name: "insecure" }, chrome).kind, "insecure");
// The stop summary, one line, says whether it was saved.
const track = (d, s) => ({ duration_ms: d, shares: s });
const msg = { people: 2, track_count: 3, session_id: 7,
  tracks: [track(3000, { neutral: 0.5, happy: 0.5 }), track(1000, { neutral: 1 })] };
assert.equal(stopLine(msg, 66000, { recording: true, history: true }),
  "Stopped after 1.1 min · 2 people (3 tracks) · mostly neutral 63%, happy 38% · saved as session 7.");
assert.equal(saved({}, { recording: false, history: true }), "not saved (Record history was off)");
assert.match(saved({}, { recording: false, history: false }), /keeps no history/);
assert.match(saved({ session_id: 3, history_error: "sqlite:////home/ann/h.db is locked" }, {}),
  /the server's log says why/);
assert.equal(stopLine({ people: 0, track_count: 0, tracks: [] }, 2000, { recording: false, history: true }),
  "Stopped after 2.0 s · 0 people (0 tracks) · no face seen · not saved (Record history was off).");
assert.equal(glance(66000, 5, { neutral: 0.49, happy: 0.31, sad: 0.2 }),
  "1.1 min · 5 people · mostly neutral 49%, happy 31%");
assert.equal(topShares(pooledShares([])), "");
// Ink on every colour reaches 4.5:1; nothing names a place on the server.
for (const colour of Object.values(PALETTE)) assert.ok(contrast(colour, inkOn(colour)) >= 4.5, colour);
assert.equal(safeMessage("no session 7", "x"), "no session 7");
assert.equal(safeMessage("cannot open /var/lib/moodlens/history.sqlite3", "x"), "x");
console.log("ok");
"""


def test_the_pages_modules_under_node(tmp_path: Path) -> None:
    """Table-driven checks of the page modules that hold rules (static/*.js, ES modules): why a
    socket closed and the back-off, the camera's errors in words for each browser, the one-line stop
    summary and whether it says saved, the glance line, ink contrast, no server path in a message."""
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: these checks need Node.js >= 20.19 (ES modules in .js files)")
    found = re.match(
        r"v(\d+)\.(\d+)",
        subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout,
    )
    if found is None or (int(found.group(1)), int(found.group(2))) < (20, 19):
        pytest.skip("Node.js >= 20.19 is needed (ES modules in .js files without a package.json)")
    script = tmp_path / "units.mjs"
    script.write_text(_PAGE_UNITS, encoding="utf-8")
    done = subprocess.run(
        [node, str(script), STATIC.as_uri()], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
