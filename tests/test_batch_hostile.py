"""``moodlens batch`` (and ``serve --db``) against hostile inputs, with the command lines of issue 29:
a file name that is not UTF-8, named pipes and symlink loops are one input's problem each; a
Matroska whose timestamps jump 2,500 hours is planned by the frames it holds; a video cut short is
``truncated``, not ``done``; a Ray address where no cluster answers fails in seconds; a killed
driver leaves no Ray worker behind; serving a new history database says it created it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.cli.main import main
from test_video import jpeg_frames, write_matroska

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="named pipes and symlinks as on POSIX")


@pytest.fixture
def batch_extra() -> None:
    pytest.importorskip("pyarrow", reason="moodlens batch needs the [batch] extra (pyarrow)")


def _photo(path: Path, value: int = 120) -> Path:
    assert cv2.imwrite(str(path), np.full((60, 80, 3), value, np.uint8))
    return path


def _avi(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 120))
    for i in range(frames):
        image = np.full((120, 160, 3), (i * 7) % 255, np.uint8)
        cv2.putText(image, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        writer.write(image)
    writer.release()
    return path


def _status(out: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    return list(pq.read_table(out / "status.parquet").to_pylist())


def _cli(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``moodlens ARGV`` in its own process (a hang is a failure, not a stuck test run)."""
    return subprocess.run(
        [sys.executable, "-m", "moodlens.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- names, pipes and loops: one input's problem each --------------------------------------------


def test_a_file_name_that_is_not_utf8_is_skipped_alone_and_the_rest_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], batch_extra: None
) -> None:
    """``moodlens batch DIR --out OUT`` with ``bad\\xff.jpg`` in DIR: the other photos are done,
    the bad name is listed (printably) as skipped, in the report and in status.parquet."""
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "a.jpg")
    _photo(folder / "b.jpg", 30)
    bad = os.fsencode(folder) + b"/bad\xff.jpg"
    with open(bad, "wb") as handle:
        handle.write((folder / "a.jpg").read_bytes())
    out = tmp_path / "out"
    assert main(["batch", str(folder), os.fsdecode(bad), "--out", str(out), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "2 done" in err and "Traceback" not in err and "internal error" not in err
    shown = f"{folder}/bad\\xff.jpg"
    (line,) = [line for line in err.splitlines() if "bad" in line]  # once, though named twice
    assert line == f"  skipped {shown}: " + (
        "the file name is not valid UTF-8: rename the file (e.g. with convmv) to analyse it"
    )
    rows = {row["source"]: row for row in _status(out)}
    assert rows[shown]["status"] == "skipped" and "not valid UTF-8" in str(rows[shown]["reason"])
    assert {rows[str(folder / n)]["status"] for n in ("a.jpg", "b.jpg")} == {"done"}


def test_fifos_and_symlink_loops_are_reported_per_file_and_never_opened(
    tmp_path: Path, batch_extra: None
) -> None:
    """Named in a folder, a glob or on the command line: each pipe and loop is reported once with
    its reason, nothing waits on the pipe (no writer ever comes), and the photo is done."""
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "a.jpg")
    os.mkfifo(folder / "pipe.mp4")
    (folder / "loop1.mp4").symlink_to("loop2.mp4")
    (folder / "loop2.mp4").symlink_to("loop1.mp4")
    (folder / "gone.jpg").symlink_to("nowhere.jpg")
    out = tmp_path / "out"
    started = time.monotonic()
    done = _cli(
        "batch",
        str(folder),
        str(folder / "pipe.mp4"),
        str(folder / "loop1.mp4"),
        str(folder / "*.mp4"),
        "--out",
        str(out),
        "--workers",
        "1",
        timeout=120,
    )
    assert time.monotonic() - started < 60
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    skipped = sorted(line for line in done.stderr.splitlines() if line.startswith("  skipped"))
    assert skipped == [
        f"  skipped {folder}/gone.jpg: a broken symlink: what it points to does not exist",
        f"  skipped {folder}/loop1.mp4: a symlink loop: the link never reaches a file",
        f"  skipped {folder}/loop2.mp4: a symlink loop: the link never reaches a file",
        f"  skipped {folder}/pipe.mp4: a named pipe (FIFO), not a regular file: not read",
    ]
    rows = _status(out)
    assert sorted(str(r["source"]) for r in rows if r["status"] == "skipped") == [
        f"{folder}/{n}" for n in ("gone.jpg", "loop1.mp4", "loop2.mp4", "pipe.mp4")
    ]
    assert [r["source"] for r in rows if r["status"] == "done"] == [str(folder / "a.jpg")]


# --- what a container claims is not what a file holds --------------------------------------------

JUMP_MS = 2_500 * 3_600_000  # 2,500 hours


def _jump_mkv(path: Path) -> Path:
    """50 frames at 25 FPS whose timestamps jump 2,500 hours after the 25th: its container then
    announces 225 million frames."""
    times = [i * 40 + (JUMP_MS if i >= 25 else 0) for i in range(50)]
    return write_matroska(path, jpeg_frames(50), times)


@pytest.mark.parametrize("segment_s", [120.0, 1.0])
def test_a_matroska_whose_timestamps_jump_2500_hours_is_planned_by_its_frames(
    tmp_path: Path, segment_s: float
) -> None:
    from moodlens.batch import Segmenting, expand, plan
    from moodlens.pipeline.sources import VideoSource

    video = _jump_mkv(tmp_path / "jump.mkv")
    with VideoSource(video) as source:
        assert (source.info.frame_count or 0) > 200_000_000  # the claim
    items, _ = expand([str(video)])
    units, problems = plan(items, Segmenting(segment_s, 0.4))
    # One unit: 50 frames, and frame numbers that say nothing about time (cut nowhere).
    assert not problems and len(units) == 1
    assert units[0].frames_expected == 50 and units[0].end_frame is None


def test_batch_on_a_matroska_with_a_2500_hour_jump_finishes_with_every_frame(
    tmp_path: Path, batch_extra: None
) -> None:
    """``moodlens batch jump.mkv --out OUT``: before, 75,000 work units that never finished."""
    video = _jump_mkv(tmp_path / "jump.mkv")
    out = tmp_path / "out"
    done = _cli("batch", str(video), "--out", str(out), "--workers", "1", timeout=120)
    assert done.returncode == 0, done.stderr
    (row,) = _status(out)
    assert row["status"] == "done" and row["frames"] == 50
    assert float(row["media_ms"]) > JUMP_MS  # the file's own times are kept


def _cut(path: Path, share: float = 0.6) -> Path:
    data = path.read_bytes()
    cut = path.with_name(f"cut{path.suffix}")
    cut.write_bytes(data[: int(len(data) * share)])
    return cut


@pytest.mark.parametrize(
    ("container", "segment_s"),
    [("avi", "120"), ("mkv", "120"), ("avi", "1")],
    ids=["avi", "mkv", "avi-segments"],
)
def test_a_truncated_video_is_marked_truncated_not_done(
    tmp_path: Path, batch_extra: None, container: str, segment_s: str
) -> None:
    """``moodlens batch cut.avi whole.avi --out OUT``: the cut file's frames up to the cut are kept,
    with status ``truncated`` and why; the whole one is ``done``; exit 1, as ``moodlens video``."""
    if container == "avi":
        whole = _avi(tmp_path / "whole.avi", 100)
    else:
        whole = write_matroska(tmp_path / "whole.mkv", jpeg_frames(100), [i * 40 for i in range(100)])
    cut = _cut(whole)
    if segment_s == "1":  # the cut file in segments of 25 frames, planned by the frames it holds
        from moodlens.batch import Segmenting, expand, plan

        units, _ = plan(expand([str(cut)])[0], Segmenting(1, 0.2))
        assert [u.end_frame for u in units][-1] is None and 2 <= len(units) <= 3
    out = tmp_path / "out"
    argv = ["batch", str(cut), str(whole), "--out", str(out), "--workers", "1"]
    argv += ["--segment-s", segment_s, "--overlap-s", "0.2"]
    done = _cli(*argv)
    assert done.returncode == 1, done.stderr
    assert "1 done, 1 cut short, 0 failed" in done.stderr
    assert f"  cut short {cut}: the video ends " in done.stderr
    rows = {row["source"]: row for row in _status(out)}
    assert rows[str(whole)]["status"] == "done" and rows[str(whole)]["frames"] == 100
    truncated = rows[str(cut)]
    assert truncated["status"] == "truncated"
    assert "the file is probably cut short" in str(truncated["reason"])
    assert 40 <= int(str(truncated["frames"])) < 70
    import pandas as pd

    faces = pd.read_parquet(out / "faces")
    assert set(faces["source"]) <= {str(whole), str(cut)}  # a truncated item's rows are kept
    assert os.path.exists(out / "faces" / f"{truncated['item_key']}.parquet")
    again = _cli(*argv)
    assert "2 already done before" in again.stderr  # finished: not redone


# --- Ray: an address where no cluster answers; a killed driver ---------------------------------------


def test_a_ray_address_where_nothing_listens_fails_within_10_s(tmp_path: Path, batch_extra: None) -> None:
    pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    photo = _photo(tmp_path / "p.jpg")
    out = tmp_path / "out"
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        started = time.monotonic()
        done = _cli(
            "batch", str(photo), "--out", str(out), "--engine", "ray", "--address", address, timeout=60
        )
        took = time.monotonic() - started
        assert took < 10, f"{address}: {took:.1f} s"
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if "moodlens" in line]
        assert lines == [
            f"moodlens batch: error: --address {address}: no Ray cluster there (Connection refused); start "
            "one with 'ray start --head', give the address it prints, or leave out --address for a Ray "
            "instance on this machine"
        ]
        assert not out.exists()  # nothing was made


def test_a_ray_address_that_answers_but_is_no_cluster_fails_in_time(tmp_path: Path) -> None:
    """A port that accepts connections and says nothing: Ray alone would retry for minutes."""
    pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    with socket.create_server(("0.0.0.0", 0)) as server:  # Ray dials this machine's address for 127.0.0.1
        port = server.getsockname()[1]
        code = (
            "import sys; from moodlens.batch import EngineError, RayEngine\n"
            f"engine = RayEngine('127.0.0.1:{port}'); engine.connect_timeout_s = 3\n"
            "try:\n    engine.connect()\nexcept EngineError as exc:\n    print(exc); sys.exit(2)\n"
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert done.stdout.strip() == (
        f"--address 127.0.0.1:{port}: no Ray cluster answered within 3 s (is Ray running there? 'ray status' "
        "on the head node says; 'ray start --head' starts one)"
    )
    assert took < 15, f"{took:.1f} s"


@pytest.mark.slow
def test_a_running_cluster_is_joined_by_its_address(tmp_path: Path, batch_extra: None) -> None:
    """The other side of the deadline: a live cluster at ``--address`` (here a head started by a
    Python process, which holds it until its stdin closes) is joined within it, by its address
    and by ``127.0.0.1:PORT``, and the batch runs there."""
    pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    if os.environ.get("MOODLENS_TEST_RAY_ADDRESS"):
        # CI's head (token auth on, joined by `auto` in tests/test_batch.py) already runs here: a
        # second head beside it on two cores starves both, and its workers die.
        pytest.skip("a Ray cluster already runs on this machine; this test starts its own head")
    code = (
        "import sys, ray\n"
        "ray.init(address='local', num_cpus=1, include_dashboard=False, log_to_driver=False)\n"
        "print(ray.get_runtime_context().gcs_address, flush=True)\n"
        "sys.stdin.read()\n"
    )
    # A head started by ray.init asks other drivers for a token unless told not to.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert head.stdout is not None
        address = head.stdout.readline().strip()
        if not address:
            pytest.skip("Ray cannot start a head here")
        photo = _photo(tmp_path / "p.jpg")
        port = address.rsplit(":", 1)[1]
        for given in (address, f"127.0.0.1:{port}"):
            out = tmp_path / given.replace(":", "_")
            done = _cli(
                "batch", str(photo), "--out", str(out), "--engine", "ray", "--address", given, timeout=120
            )
            assert done.returncode == 0, done.stderr
            assert "1 done" in done.stderr and "engine ray" in done.stderr
    finally:
        head.communicate(input="", timeout=60)


def _children(pid: int) -> dict[int, bytes]:
    """The processes descending from ``pid`` (command lines), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: dict[int, bytes] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                try:
                    found[child] = Path(f"/proc/{child}/cmdline").read_bytes()
                except OSError:
                    continue
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_ray_workers_die_with_a_killed_driver(tmp_path: Path, batch_extra: None) -> None:
    """``kill -9`` of ``moodlens batch --engine ray`` (a private Ray): its Ray workers, raylet and
    GCS go with it (the local engine's workers: tests/test_file_safety.py)."""
    pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    video = _avi(tmp_path / "long.avi", 600)
    out = tmp_path / "out"
    # --address local: a private Ray even where a cluster already runs on this machine (CI starts
    # one), which a driver with no address would join.
    argv = [str(video), "--out", str(out), "--engine", "ray", "--address", "local", "--workers", "1"]
    argv += ["--segment-s", "4"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "moodlens.cli.main", "batch", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("_segments/*/*.parquet")) and driver.poll() is None:
            assert time.monotonic() < deadline, "no segment finished"
            time.sleep(0.1)
        tree = _children(driver.pid)
        assert driver.poll() is None, driver.communicate()
        # Ray's per-node agents (dashboard, runtime env) notice the raylet is gone and exit on
        # their own within about a minute; what runs the work must be gone at once.
        ours = {
            pid
            for pid, command in tree.items()
            if any(name in command for name in (b"ray::Worker", b"ray::IDLE", b"raylet", b"gcs_server"))
        }
        assert any(b"ray::Worker" in tree[pid] for pid in ours), tree
        driver.kill()
        driver.communicate(timeout=30)
        killed = time.monotonic()
        while any(_alive(pid) for pid in ours):
            assert time.monotonic() - killed < 10, [tree[p] for p in ours if _alive(p)]
            time.sleep(0.1)
    finally:
        if driver.poll() is None:
            driver.kill()


# --- serve --db: a new database is created and said so; a missing folder is refused ------------------


def test_serve_says_it_created_a_new_history_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``moodlens serve --db NEW`` as ``moodlens video --db NEW --consent``: created and said so
    once; a folder that does not exist is refused before anything is made (exit 2)."""
    pytest.importorskip("fastapi", reason="moodlens serve needs the [serve] extra")
    pytest.importorskip("sqlalchemy", reason="the history needs the [store] extra")
    import moodlens.service.server

    served: list[object] = []
    monkeypatch.setattr(moodlens.service.server, "run", lambda app, **options: served.append(app))
    monkeypatch.delenv("MOODLENS_DB", raising=False)
    new = tmp_path / "history.sqlite3"
    assert main(["serve", "--db", str(new)]) == 0
    err = capsys.readouterr().err
    assert f"created history database at sqlite:///{new}" in err and new.is_file()
    assert main(["serve", "--db", str(new)]) == 0  # the second time it is there: nothing to say
    assert "created" not in capsys.readouterr().err
    assert len(served) == 2
    typo = tmp_path / "nodir" / "history.sqlite3"
    assert main(["serve", "--db", str(typo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moodlens serve: error: cannot create a history database at ")
    assert "does not exist" in err and not typo.parent.exists() and len(served) == 2
    # A read never creates one: a profile looked up in a database that is not there.
    other = tmp_path / "other.sqlite3"
    assert main(["serve", "--db", str(other), "--profile", "ann"]) == 2
    assert "no history database" in capsys.readouterr().err and not other.exists()
