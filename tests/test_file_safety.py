"""A user's own files: outputs never overwrite an input, are written whole (a temporary name renamed
into place), and ``batch`` touches only what it created; history databases are never created by a
read or a typo; a session still recording is not deleted from under its recorder."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.cli.main import main
from moodlens.pipeline.runner import run_stream
from moodlens.pipeline.sinks import TimelineSink, VideoSink, partial_path, write_atomically
from moodlens.pipeline.sources import VideoSource
from moodlens.pipeline.stream import StreamAnalyzer
from moodlens.results import Box, Detection, FrameResult


def _photo(path: Path, value: int = 120) -> Path:
    cv2.imwrite(str(path), np.full((60, 80, 3), value, np.uint8))
    return path


def _video(path: Path, frames: int = 12, fourcc: str = "MJPG") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 25, (160, 120))
    for i in range(frames):
        image = np.full((120, 160, 3), (i * 9) % 255, np.uint8)
        cv2.putText(image, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        writer.write(image)
    writer.release()
    return path


def _one_line_error(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error" in lines[0] and all(w in lines[0] for w in words), lines[0]


# --- 1. an output that is an input is refused before any work ---------------------------------------


def _aliases(target: Path, kind: str) -> Path:
    """Another name for ``target``: itself, a symlink, a hard link, or a relative detour."""
    if kind == "same":
        return target
    if kind == "symlink":
        link = target.with_name("link" + target.suffix)
        link.symlink_to(target.name)
        return link
    if kind == "hardlink":
        link = target.with_name("hard" + target.suffix)
        os.link(target, link)
        return link
    (target.parent / "sub").mkdir()
    return Path(os.path.relpath(target.parent / "sub" / ".." / target.name))


ALIASES = ["same", "symlink", "hardlink", "relative"]


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("option", ["--out", "--timeline", "--summary"])
def test_video_refuses_to_write_over_its_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    alias: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = _video(tmp_path / "mine.mp4", fourcc="mp4v")
    before = mine.read_bytes()
    other_name = str(_aliases(mine, alias))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert main(["video", "mine.mp4", option, other_name]) == 2
    _one_line_error(capsys.readouterr().err, option, "input")
    assert mine.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # nothing written, no partial file


@pytest.mark.parametrize(
    ("source", "option", "target"),
    [
        ("clip.partial.mp4", "--out", "clip.mp4"),  # a video is written as STEM.partial.SUFFIX
        ("t.csv.partial", "--timeline", "t.csv"),  # a timeline as NAME.partial
    ],
)
def test_video_refuses_an_output_whose_partial_name_is_its_input(
    source: str,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    target: str,
) -> None:
    """The input left by a killed run (clip.partial.mp4) analysed into clip.mp4 would be truncated
    by the first frame written under the partial name."""
    monkeypatch.chdir(tmp_path)
    mine = _video(tmp_path / "mine.mp4", fourcc="mp4v")
    os.replace(mine, tmp_path / source)
    before = (tmp_path / source).read_bytes()
    assert main(["video", source, option, target]) == 2
    _one_line_error(capsys.readouterr().err, option, "is written as", "input")
    assert (tmp_path / source).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [source]


def test_image_refuses_a_results_file_whose_partial_name_is_an_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "r.jsonl.partial"  # a photo under any name: its content decides
    os.replace(_photo(tmp_path / "x.png"), mine)
    before = mine.read_bytes()
    assert main(["image", str(mine), "--output", str(tmp_path / "r.jsonl")]) == 2
    _one_line_error(capsys.readouterr().err, "--output", "is written as")
    assert mine.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "name", "words"),
    [("--out", "o.txt", ["annotated video", ".mp4"]), ("--timeline", "t.xlsx", ["timeline", ".csv"])],
)
def test_video_refuses_an_output_of_a_kind_it_cannot_write_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, name: str, words: list[str]
) -> None:
    clip = _video(tmp_path / "clip.avi")
    assert main(["video", str(clip), option, str(tmp_path / name)]) == 2  # a usage error
    _one_line_error(capsys.readouterr().err, name, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]


def test_video_makes_the_folders_of_its_outputs_before_any_work_as_image_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = _video(tmp_path / "clip.avi")
    out, timeline, summary = (
        tmp_path / d / "x" / f for d, f in (("a", "o.mkv"), ("b", "t.csv"), ("c", "s.json"))
    )
    args = ["video", str(clip), "--out", str(out), "--timeline", str(timeline), "--summary", str(summary)]
    # The summary is written last: before, its missing folder failed the run after all the reading.
    assert main(args) == 0
    assert out.stat().st_size > 0 and timeline.read_text().startswith("timestamp_ms,")
    assert json.loads(summary.read_text())
    capsys.readouterr()
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(["video", str(clip), "--summary", str(blocker / "s.json")]) == 2
    _one_line_error(capsys.readouterr().err, "--summary", "cannot create the folder", str(blocker))
    assert blocker.read_text() == "a file, not a folder"
    # A run refused for its settings (a model that is not there) leaves no folder behind.
    missing_model = str(tmp_path / "no.onnx")
    assert main(["video", str(clip), "--model", missing_model, "--summary", str(tmp_path / "d/s.json")]) == 1
    assert "no such model file" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    # The camera makes them too (a clip stands in for the camera).
    summary = tmp_path / "cam" / "x" / "s.json"
    assert main(["camera", "--device", str(clip), "--view", "none", "--summary", str(summary)]) == 0
    assert json.loads(summary.read_text())
    # An image's results file too, as its --out.
    photo = _photo(tmp_path / "p.png")
    results = tmp_path / "res" / "x" / "r.csv"
    assert main(["image", str(photo), "--output", str(results)]) == 0
    assert results.read_text().startswith("file,")


@pytest.mark.parametrize("name", [".", "..", "sub/", "folder"])
@pytest.mark.parametrize("option", ["--summary", "--timeline", "--out"])
def test_video_refuses_an_output_that_names_a_folder_before_any_work(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
    name: str,
) -> None:
    clip = _video(tmp_path / "clip.avi")
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    # The summary is written last: a folder there failed the run once every frame had been read,
    # naming a hidden temporary file; "." was an internal error.
    assert main(["video", str(clip), option, name]) == 2
    _one_line_error(capsys.readouterr().err, option, "is a folder; name a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "folder"]


def test_video_on_a_photo_points_to_moodlens_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "p.jpg")
    assert main(["video", str(photo)]) == 0
    assert f"'moodlens image {photo}' describes its faces" in capsys.readouterr().err


def test_a_complete_video_run_names_each_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = _video(tmp_path / "clip.avi")
    out, timeline, summary = tmp_path / "o.mkv", tmp_path / "t.jsonl", tmp_path / "s.json"
    args = ["video", str(clip), "--out", str(out), "--timeline", str(timeline), "--summary", str(summary)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (
        f"annotated video: {out}" in err and f"timeline: {timeline}" in err and f"summary: {summary}" in err
    )


def test_video_refuses_two_outputs_that_are_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = _video(tmp_path / "clip.avi")
    same = str(tmp_path / "t.csv")
    assert main(["video", str(clip), "--timeline", same, "--summary", same]) == 2
    _one_line_error(capsys.readouterr().err, "--timeline", "--summary")
    assert not (tmp_path / "t.csv").exists()


def test_camera_refuses_to_write_over_a_file_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = _video(tmp_path / "clip.avi")
    before = clip.read_bytes()
    assert main(["camera", "--device", str(clip), "--view", "none", "--out", str(clip)]) == 2
    _one_line_error(capsys.readouterr().err, "--out", "input")
    assert clip.read_bytes() == before


@pytest.mark.parametrize("alias", ALIASES)
def test_image_refuses_to_write_over_its_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], alias: str
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = _photo(tmp_path / "mine.jpg")
    before = mine.read_bytes()
    assert main(["image", "mine.jpg", "--out", str(_aliases(mine, alias))]) == 2
    _one_line_error(capsys.readouterr().err, "--out", "input")
    assert mine.read_bytes() == before
    assert main(["image", "mine.jpg", "--output", "mine.jpg"]) == 2
    _one_line_error(capsys.readouterr().err, "--output", "input")
    assert mine.read_bytes() == before


def test_image_out_with_a_photo_s_name_for_several_photos_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg", 30)
    one = tmp_path / "one.jpg"
    assert main(["image", str(a), str(b), "--out", str(one)]) == 2
    _one_line_error(capsys.readouterr().err, "--out", "must be a folder")
    assert not one.exists()
    one.mkdir()  # a folder that happens to be named like a photo is a folder
    assert main(["image", str(a), str(b), "--out", str(one)]) == 0
    assert sorted(p.name for p in one.iterdir()) == ["a_moodlens.jpg", "b_moodlens.jpg"]


def test_image_annotating_a_folder_into_itself_twice_never_overwrites_a_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.jpg")
    assert main(["image", str(folder), "--out", str(folder)]) == 0
    drawn = (folder / "a_moodlens.jpg").read_bytes()
    capsys.readouterr()
    # Now a_moodlens.jpg is an input, and a.jpg's annotated copy would overwrite it.
    assert main(["image", str(folder), "--out", str(folder)]) == 2
    _one_line_error(capsys.readouterr().err, "a_moodlens.jpg", "input")
    assert (folder / "a_moodlens.jpg").read_bytes() == drawn


# --- 2. every output is written to a temporary name and renamed at the end -------------------------


def _stream() -> StreamAnalyzer:
    from moodlens import FakeClassifier, FakeDetector
    from moodlens.pipeline import Analyzer

    return StreamAnalyzer(Analyzer(FakeDetector([Detection(Box(40, 30, 100, 100), 0.9)]), FakeClassifier()))


@pytest.mark.parametrize("name", ["t.csv", "t.jsonl", "out.avi"])
def test_sinks_write_beside_the_file_and_rename_when_closed(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    target.write_bytes(b"the user's old file")
    video = name.endswith(".avi")
    partial = partial_path(target, keep_suffix=video)
    assert partial.name == ("out.partial.avi" if video else f"{name}.partial")
    sink = VideoSink(target, fps=25, size=(160, 120)) if video else TimelineSink(target, flush_every=1)
    with VideoSource(_video(tmp_path / "in.avi")) as source, sink:
        seen = []
        for frame in source:
            if video:
                assert isinstance(sink, VideoSink)
                sink.write(frame.image)
            else:
                assert isinstance(sink, TimelineSink)
                sink.write(
                    _stream().process(frame.image, timestamp_ms=frame.timestamp_ms, frame_index=frame.index)
                )
            seen.append((target.read_bytes(), partial.exists()))
    assert all(old == b"the user's old file" and there for old, there in seen)  # untouched until the end
    assert not partial.exists() and target.read_bytes() != b"the user's old file"
    if video:
        assert len([f for f in VideoSource(target)]) == 12


def _fail_inside(sink: TimelineSink | VideoSink, frames: int) -> None:
    with sink:
        for k in range(frames):
            assert isinstance(sink, TimelineSink)
            sink.write(_stream().process(np.zeros((120, 160, 3), np.uint8), timestamp_ms=0.0, frame_index=k))
        raise RuntimeError("the run failed")


def test_a_sink_left_on_an_error_keeps_the_old_file_and_its_rows_under_partial(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        _fail_inside(TimelineSink(target), 1)
    assert target.read_text() == "old\n"
    assert len(list(csv.DictReader(partial_path(target).open()))) == 1
    # A sink that wrote nothing leaves nothing behind.
    with pytest.raises(RuntimeError):
        _fail_inside(VideoSink(tmp_path / "v.avi", fps=25, size=(160, 120)), 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.csv.partial"]


def test_ctrl_c_in_a_stream_renames_complete_outputs_into_place(tmp_path: Path) -> None:
    out, timeline = tmp_path / "out.avi", tmp_path / "t.jsonl"

    def frames():  # type: ignore[no-untyped-def]
        with VideoSource(_video(tmp_path / "v.avi", 20)) as source:
            for frame in source:
                if frame.index == 8:
                    raise KeyboardInterrupt
                yield frame

    with VideoSink(out, fps=25, size=(160, 120)) as video, TimelineSink(timeline) as sink:
        stats = run_stream(frames(), _stream(), video=video, sinks=[sink])
    assert stats.interrupted
    assert [json.loads(line)["frame_index"] for line in timeline.read_text().splitlines()] == list(range(8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi", "t.jsonl", "v.avi"]


def test_write_atomically_leaves_the_old_file_whole_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_atomically(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    write_atomically(target, "new")
    assert target.read_text() == "new"


def test_image_results_and_copies_appear_only_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While the batch runs, results.csv is results.csv.partial and the old file is untouched; a
    Ctrl-C keeps what was written, beside a complete earlier file, never over it (exit 130)."""
    import moodlens.images

    photos = [_photo(tmp_path / f"{k}.jpg", 40 * k) for k in range(3)]
    results = tmp_path / "results.csv"
    results.write_text("old\n")
    real = moodlens.images.read_image
    seen: list[tuple[str, bool]] = []

    def read(path: Path, **kwargs: object) -> np.ndarray:
        seen.append((results.read_text() if results.exists() else "", partial_path(results).exists()))
        if Path(path).name == "2.jpg":
            raise KeyboardInterrupt
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(moodlens.images, "read_image", read)
    code = main(["image", *map(str, photos), "--output", str(results), "--out", str(tmp_path / "drawn")])
    assert code == 130
    assert seen == [("old\n", True)] * 3
    assert results.read_text() == "old\n"
    rows = list(csv.DictReader(partial_path(results).open()))
    assert [Path(r["file"]).name for r in rows] == ["0.jpg", "1.jpg"]
    assert f"{results} (an earlier result) is left as it was" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == ["0_moodlens.jpg", "1_moodlens.jpg"]
    # With no earlier file, what was written before Ctrl-C takes the name.
    results.unlink()
    partial_path(results).unlink()
    seen.clear()
    assert main(["image", *map(str, photos), "--output", str(results)]) == 130
    assert [Path(r["file"]).name for r in csv.DictReader(results.open())] == ["0.jpg", "1.jpg"]
    assert not partial_path(results).exists()


def test_ctrl_c_or_a_crash_outside_the_loop_never_replaces_a_complete_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the outputs are being opened (before the loop could catch it) leaves complete
    earlier files as they were, as does a photo batch that fails on an unexpected error: what was
    written stays under the partial name."""
    import moodlens.images

    out, timeline = tmp_path / "out.avi", tmp_path / "t.jsonl"
    out.write_bytes(b"a complete earlier video")
    timeline.write_text("a complete earlier timeline\n")
    with pytest.raises(KeyboardInterrupt), VideoSink(out, fps=25, size=(160, 120)), TimelineSink(timeline):
        raise KeyboardInterrupt
    assert out.read_bytes() == b"a complete earlier video"
    assert timeline.read_text() == "a complete earlier timeline\n"
    # Without an earlier file, Ctrl-C keeps what was written under the final name.
    fresh = tmp_path / "fresh.jsonl"
    with pytest.raises(KeyboardInterrupt), TimelineSink(fresh):
        raise KeyboardInterrupt
    assert fresh.is_file() and not partial_path(fresh).exists()

    photos = [_photo(tmp_path / f"{k}.jpg", 40 * k) for k in range(3)]
    results = tmp_path / "results.csv"
    results.write_text("old\n")
    real = moodlens.images.read_image

    def read(path: Path, **kwargs: object) -> np.ndarray:
        if Path(path).name == "1.jpg":
            raise RuntimeError("a bug, not a bad photo")
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(moodlens.images, "read_image", read)
    assert main(["image", *map(str, photos), "--output", str(results)]) == 1
    assert results.read_text() == "old\n"
    assert [Path(r["file"]).name for r in csv.DictReader(partial_path(results).open())] == ["0.jpg"]


def test_ctrl_c_on_a_video_file_never_replaces_complete_earlier_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C on ``moodlens video`` keeps the shorter outputs under their partial names where a
    complete earlier run's are at the final names, and renames them into place where none are."""
    clip = _video(tmp_path / "clip.avi", 20)
    out, timeline, summary = tmp_path / "o.avi", tmp_path / "t.csv", tmp_path / "s.json"
    args = ["video", str(clip), "--out", str(out), "--timeline", str(timeline), "--summary", str(summary)]
    assert main(args) == 0
    complete = {p: p.read_bytes() for p in (out, timeline, summary)}
    real = StreamAnalyzer.finish
    calls = {"n": 0}

    def finish(self: StreamAnalyzer, *a: object, **k: object) -> object:
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(StreamAnalyzer, "finish", finish)
    capsys.readouterr()
    assert main(args) == 130
    err = capsys.readouterr().err
    assert all(p.read_bytes() == data for p, data in complete.items())
    assert partial_path(timeline).is_file()  # (no face in these frames: a header alone)
    assert json.loads(partial_path(summary).read_text())["run"]["frames"] == 8
    assert cv2.VideoCapture(str(partial_path(out, keep_suffix=True))).get(cv2.CAP_PROP_FRAME_COUNT) == 8
    assert all(f"{p} (an earlier result) is left as it was" in err for p in complete)
    for p in (out, timeline, summary):
        p.unlink()
        partial_path(p, keep_suffix=p is out).unlink()
    calls["n"] = 0
    assert main(args) == 130
    assert json.loads(summary.read_text())["run"]["frames"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "o.avi", "s.json", "t.csv"]


def test_a_second_interrupted_run_never_truncates_the_first_one_s_partial_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shorter outputs a first Ctrl-C left under the partial names (which the command told
    the user to find there) survive a second interrupted run and a complete one: each run takes
    the first free partial name (``o.partial-2.avi``) and says where its outputs are."""
    clip = _video(tmp_path / "clip.avi", 20)
    out, timeline, summary = tmp_path / "o.avi", tmp_path / "t.csv", tmp_path / "s.json"
    args = ["video", str(clip), "--out", str(out), "--timeline", str(timeline), "--summary", str(summary)]
    assert main(args) == 0
    real = StreamAnalyzer.finish
    stop_at = {"n": 0, "at": 9}

    def finish(self: StreamAnalyzer, *a: object, **k: object) -> object:
        stop_at["n"] += 1
        if stop_at["n"] == stop_at["at"]:
            raise KeyboardInterrupt
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(StreamAnalyzer, "finish", finish)
    assert main(args) == 130
    first = {p: p.read_bytes() for p in tmp_path.iterdir() if ".partial" in p.name}
    assert sorted(p.name for p in first) == ["o.partial.avi", "s.json.partial", "t.csv.partial"]
    stop_at.update(n=0, at=5)
    capsys.readouterr()
    assert main(args) == 130
    err = capsys.readouterr().err
    assert all(p.read_bytes() == data for p, data in first.items())
    second = tmp_path / "o.partial-2.avi"
    assert cv2.VideoCapture(str(second)).get(cv2.CAP_PROP_FRAME_COUNT) == 4
    assert json.loads((tmp_path / "s.json.partial-2").read_text())["run"]["frames"] == 4
    assert (tmp_path / "t.csv.partial-2").is_file()
    assert str(second) in err and str(tmp_path / "t.csv.partial-2") in err
    stop_at.update(n=0, at=-1)
    assert main(args) == 0  # a complete run: into place, the partial files of both runs kept
    assert all(p.read_bytes() == data for p, data in first.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            *("clip.avi", "o.avi", "s.json", "t.csv"),
            *(p.name for p in first),
            *("o.partial-2.avi", "s.json.partial-2", "t.csv.partial-2"),
        ]
    )


def test_a_second_ctrl_c_while_the_outputs_close_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two real SIGINTs, the second while the outputs close (a double press): the wrap-up goes on,
    the summary is written, every shorter output is named, and all share one partial number
    (chosen where none of the run's outputs has an earlier file: s.json.partial is one)."""
    import signal

    clip = _video(tmp_path / "clip.avi", 20)
    out, timeline, summary = tmp_path / "o.avi", tmp_path / "t.csv", tmp_path / "s.json"
    args = ["video", str(clip), "--out", str(out), "--timeline", str(timeline), "--summary", str(summary)]
    assert main(args) == 0
    (tmp_path / "s.json.partial").write_text("an earlier run's")
    real_finish, real_close = StreamAnalyzer.finish, TimelineSink.close
    calls = {"n": 0}

    def finish(self: StreamAnalyzer, *a: object, **k: object) -> object:
        calls["n"] += 1
        if calls["n"] == 9:
            os.kill(os.getpid(), signal.SIGINT)  # the first press: the analysis stops
        return real_finish(self, *a, **k)  # type: ignore[arg-type]

    def close(self: TimelineSink, *, failed: bool = False) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the second press, while the outputs close
        real_close(self, failed=failed)

    monkeypatch.setattr(StreamAnalyzer, "finish", finish)
    monkeypatch.setattr(TimelineSink, "close", close)
    capsys.readouterr()
    try:
        assert main(args) == 130
    except KeyboardInterrupt:  # a regression must fail this test, not end the test session
        pytest.fail("the second Ctrl-C escaped the command")
    err = capsys.readouterr().err
    assert "closing the outputs" in err and "Traceback" not in err
    for name in ("o.partial-2.avi", "t.csv.partial-2", "s.json.partial-2"):
        assert str(tmp_path / name) in err, err
    assert json.loads((tmp_path / "s.json.partial-2").read_text())["run"]["interrupted"] is True
    assert (tmp_path / "s.json.partial").read_text() == "an earlier run's"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_a_history_that_gives_up_mid_run_keeps_and_names_the_shorter_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The history database failing mid-way stops the run (status 1): the shorter outputs stay
    beside the complete earlier ones, and the command says where they are."""
    from moodlens.errors import StoreError

    clip = _video(tmp_path / "clip.avi", 20)
    out, timeline = tmp_path / "o.avi", tmp_path / "t.csv"
    args = ["video", str(clip), "--out", str(out), "--timeline", str(timeline)]
    assert main(args) == 0
    complete = {p: p.read_bytes() for p in (out, timeline)}
    real = StreamAnalyzer.finish
    calls = {"n": 0}

    def finish(self: StreamAnalyzer, *a: object, **k: object) -> object:
        calls["n"] += 1
        if calls["n"] == 9:
            raise StoreError("sqlite:///h.sqlite3: database is locked")
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(StreamAnalyzer, "finish", finish)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "stopped: sqlite:///h.sqlite3: database is locked" in err
    assert all(p.read_bytes() == data for p, data in complete.items())
    for name in ("o.partial.avi", "t.csv.partial"):
        assert str(tmp_path / name) in err and (tmp_path / name).is_file()


def test_calm_wrap_up_leaves_an_ignored_or_foreign_sigint_alone() -> None:
    import signal

    from moodlens.cli.interrupts import CalmWrapUp

    def mine(signum: int, frame: object) -> None:
        pass

    for handler in (signal.SIG_IGN, mine):
        previous = signal.signal(signal.SIGINT, handler)
        try:
            with CalmWrapUp():
                assert signal.getsignal(signal.SIGINT) is handler
            assert signal.getsignal(signal.SIGINT) is handler
        finally:
            signal.signal(signal.SIGINT, previous)
    with CalmWrapUp() as calm:
        assert signal.getsignal(signal.SIGINT) == calm._handle
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """``moodlens info | head -1`` where head has gone: no 'error: Broken pipe', no traceback,
    status 141 as other tools the pipe stopped."""
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes a byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "moodlens.cli.main", "info"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


def test_a_broken_pipe_that_is_not_standard_output_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO given as an output whose reader left: said as an error (status 1), not the quiet
    end of a pipe into head."""
    from moodlens.cli import info

    def broken(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe", "/tmp/fifo.csv")

    monkeypatch.setattr(info, "run", broken)
    assert main(["info"]) == 1
    _one_line_error(capsys.readouterr().err, "/tmp/fifo.csv: Broken pipe")


def test_ctrl_c_before_the_command_starts_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while the arguments are read (the first fraction of a second): no traceback."""
    import moodlens.cli.main as cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    try:
        assert cli.main(["info"]) == 130
    except KeyboardInterrupt:  # a regression must fail this test, not end the test session
        pytest.fail("Ctrl-C escaped main()")
    assert capsys.readouterr().err.strip() == "interrupted"


def test_a_partial_name_is_taken_exclusively(tmp_path: Path) -> None:
    """Two sinks on one output at once (two runs) never share a working file."""
    target = tmp_path / "t.csv"
    with TimelineSink(target) as a, TimelineSink(target) as b:
        assert a.partial != b.partial
        assert {a.partial.name, b.partial.name} == {"t.csv.partial", "t.csv.partial-2"}
    with VideoSink(tmp_path / "o.avi", fps=5, size=(32, 24)) as v:
        (tmp_path / "o.partial-2.avi").write_bytes(b"a user's file")
        with VideoSink(tmp_path / "o.avi", fps=5, size=(32, 24)) as w:
            assert (v.partial.name, w.partial.name) == ("o.partial.avi", "o.partial-3.avi")
    assert (tmp_path / "o.partial-2.avi").read_bytes() == b"a user's file"


def test_video_summary_and_timeline_are_written_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = _video(tmp_path / "clip.avi")
    summary, timeline = tmp_path / "s.json", tmp_path / "t.csv"
    summary.write_text("old")
    assert main(["video", str(clip), "--summary", str(summary), "--timeline", str(timeline)]) == 0
    assert json.loads(summary.read_text())["run"]["frames"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "s.json", "t.csv"]


# --- 5. no silent new databases ----------------------------------------------------------------------


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default data folder moved under tmp_path (not created), no $MOODLENS_DB, and tmp_path
    as the working folder."""
    pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MOODLENS_DB", raising=False)
    from moodlens.store.database import default_path

    assert default_path().parent == tmp_path / "xdg" / "moodlens"
    return tmp_path / "xdg" / "moodlens"


def _recorded_db(path: Path) -> str:
    from moodlens.store import HistoryStore

    store = HistoryStore(path, create=True)
    store.end_session(store.start_session(name="kept", consent=True))
    store.close()
    return str(path)


@pytest.mark.parametrize("before", [True, False], ids=["db-before-action", "db-after-action"])
@pytest.mark.parametrize("typo", ["out/hisotry.sqlite3", "sqlite:///nodir/x.db"])
def test_history_reads_never_create_a_database_or_a_folder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data_home: Path,
    typo: str,
    before: bool,
) -> None:
    (tmp_path / "out").mkdir()
    _recorded_db(tmp_path / "out" / "history.sqlite3")
    listing = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    for action in (["list"], ["show", "1"], ["trends"], ["export", "1"], ["delete", "1", "--yes"]):
        argv = ["history", "--db", typo, *action] if before else ["history", *action, "--db", typo]
        assert main(argv) == 2, action
        _one_line_error(capsys.readouterr().err, "no history database at", typo.removeprefix("sqlite:///"))
    argv = ["history", "migrate", "--db", typo]
    assert main(argv) == 2
    assert "no history database at" in capsys.readouterr().err
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == listing
    # Without --db: the default database is not there yet, and its folder is not made.
    assert main(["history", "list"]) == 2
    assert "no history database at" in capsys.readouterr().err and not data_home.exists()


def test_history_db_works_before_or_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    db = _recorded_db(tmp_path / "h.sqlite3")
    assert main(["history", "list", "--db", db]) == 0
    assert "kept" in capsys.readouterr().out
    assert main(["history", "--db", db, "list"]) == 0
    assert "kept" in capsys.readouterr().out
    # The one after the action wins, as in moodlens profile.
    assert main(["history", "--db", str(tmp_path / "other.sqlite3"), "show", "1", "--db", db]) == 0


def test_recording_creates_a_database_on_first_use_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    clip = str(_video(tmp_path / "clip.avi"))
    db = tmp_path / "new.sqlite3"
    assert main(["video", clip, "--db", str(db), "--consent"]) == 0
    assert f"created history database at sqlite:///{db}" in capsys.readouterr().err
    assert main(["video", clip, "--db", str(db), "--consent"]) == 0
    assert "created" not in capsys.readouterr().err  # the second run uses it
    assert main(["history", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out.count("clip.avi") == 2
    # The default database (a bare --db) may make the data folder.
    assert main(["video", clip, "--db", "--consent"]) == 0
    assert "created history database at" in capsys.readouterr().err
    assert (data_home / "history.sqlite3").is_file()


@pytest.mark.parametrize("command", ["video", "camera"])
def test_a_new_database_in_a_missing_folder_is_refused_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_home: Path,
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    clip = str(_video(tmp_path / "clip.avi"))
    source = [clip] if command == "video" else ["--device", clip, "--view", "none"]
    for typo in ("nodir/x.sqlite3", "sqlite:///nodir/x.db"):
        assert main([command, *source, "--db", typo, "--consent", "--timeline", "t.csv"]) == 2
        _one_line_error(capsys.readouterr().err, "nodir", "does not exist")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]  # no folder, no timeline


def test_postgres_urls_are_postgresql_with_the_installed_driver(data_home: Path) -> None:
    from moodlens.store import HistoryStore, StoreError
    from moodlens.store.database import resolve_url

    assert resolve_url("postgres://u:pw@db.example/h") == "postgresql+psycopg://u:pw@db.example/h"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    pytest.importorskip("psycopg", reason="PostgreSQL needs the [postgres] extra (psycopg)")
    with pytest.raises(StoreError) as caught:
        HistoryStore("postgres://nobody:x@127.0.0.1:1/none", create=False)
    assert "cannot open the database" in str(caught.value) and "pip install" not in str(caught.value)


def test_no_output_overwrites_the_history_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    db = tmp_path / "h.sqlite3"
    _recorded_db(db)
    before = db.read_bytes()
    clip = str(_video(tmp_path / "clip.avi"))
    assert main(["video", clip, "--db", str(db), "--consent", "--timeline", str(db)]) == 2
    _one_line_error(capsys.readouterr().err, "--timeline", "input")
    assert main(["history", "export", "1", "--out", str(db), "--db", str(db)]) == 2
    _one_line_error(capsys.readouterr().err, "--out", "history database")
    assert db.read_bytes() == before
    from moodlens.store import HistoryStore

    store = HistoryStore(str(db))
    store.create_profile("ann", consent=True)
    store.close()
    before = db.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(db.name)
    for out in (db, link):
        assert main(["profile", "export", "ann", "--out", str(out), "--db", str(db)]) == 2
        _one_line_error(capsys.readouterr().err, "--out", "history database")
    assert db.read_bytes() == before


def test_profile_export_replaces_a_file_whole_and_never_writes_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    from moodlens.store import HistoryStore

    db = tmp_path / "h.sqlite3"
    store = HistoryStore(str(db), create=True)
    store.create_profile("ann", consent=True)
    store.close()
    photo = _photo(tmp_path / "photo.png")
    before = photo.read_bytes()
    link = tmp_path / "ann.json"
    link.symlink_to(photo.name)
    assert main(["profile", "export", "ann", "--out", str(link), "--db", str(db)]) == 0
    assert photo.read_bytes() == before  # the link is replaced by the export, the photo kept
    assert not link.is_symlink() and json.loads(link.read_text())["profile"]["name"] == "ann"
    assert sorted(p.name for p in tmp_path.iterdir() if "sqlite3" not in p.name) == ["ann.json", "photo.png"]
    capsys.readouterr()
    # A missing folder is made, as image, video and camera make theirs; an unknown name makes none.
    unmade = tmp_path / "none" / "k.json"
    assert main(["profile", "export", "nobody", "--out", str(unmade), "--db", str(db)]) == 2
    _one_line_error(capsys.readouterr().err, "no profile named 'nobody'")
    assert not (tmp_path / "none").exists()
    made = tmp_path / "new" / "deeper" / "k.json"
    assert main(["profile", "export", "ann", "--out", str(made), "--db", str(db)]) == 0
    assert json.loads(made.read_text())["profile"]["name"] == "ann"
    capsys.readouterr()
    from moodlens.store import HistoryWriter

    recording = HistoryStore(str(db))
    with HistoryWriter.start(recording, consent=True) as writer:
        writer.write(FrameResult((), 320, 240, timestamp_ms=0.0))
    recording.close()
    assert main(["history", "export", "99", "--out", str(unmade), "--db", str(db)]) == 1
    _one_line_error(capsys.readouterr().err, "no session 99")
    assert not (tmp_path / "none").exists()
    made = tmp_path / "exports" / "s.csv"
    sid = str(writer.session_id)
    assert main(["history", "export", sid, "--format", "csv", "--out", str(made), "--db", str(db)]) == 0
    written = made.read_bytes().decode()
    assert written.startswith("session_id,session_name,track_id,") and written.endswith("\r\n")
    assert not written.endswith("\n\n")
    made_json = tmp_path / "exports" / "s.json"
    assert main(["history", "export", sid, "--out", str(made_json), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "export", sid, "--db", str(db)]) == 0  # the terminal gets the file's bytes
    assert capsys.readouterr().out == made_json.read_text() and made_json.read_text().endswith("}\n")
    # An --out that names a folder is refused before anything is read (exit 2), and nothing is
    # written: said so even for a session or profile that does not exist.
    before = sorted(p.name for p in (tmp_path / "exports").iterdir())
    for out in (str(tmp_path), str(tmp_path / "exports") + "/", str(tmp_path / "x") + "/"):
        for command in (
            ["history", "export", sid],
            ["profile", "export", "ann"],
            ["history", "export", "99"],
        ):
            assert main([*command, "--out", out, "--db", str(db)]) == 2, (command, out)
            _one_line_error(capsys.readouterr().err, "is a folder; name a file in it")
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == before
    # A folder that cannot be made: one line, exit 2.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert main(["profile", "export", "ann", "--out", str(blocker / "k.json"), "--db", str(db)]) == 2
    _one_line_error(capsys.readouterr().err, f"cannot create the folder {blocker}")


def test_an_export_whose_write_fails_leaves_no_folder_it_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while writing: one line, exit 1, and the folders made for the file are gone
    again; a folder that was there before, and one holding something else, stay."""
    import errno

    from moodlens.pipeline import sinks
    from moodlens.store import HistoryStore

    db = tmp_path / "h.sqlite3"
    store = HistoryStore(str(db), create=True)
    store.create_profile("ann", consent=True)
    store.close()
    written: list[Path] = []

    def full_disk(path: Path, text: str) -> None:
        written.append(Path(path))
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sinks, "write_atomically", full_disk)
    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "new" / "deeper" / "ann.json"
    assert main(["profile", "export", "ann", "--out", str(out), "--db", str(db)]) == 1
    _one_line_error(capsys.readouterr().err, "No space left on device")
    assert written == [out]  # it did try, in the folders it had made
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / "new").exists()

    # A folder that something else wrote into meanwhile is not removed (only empty ones are).
    def fills_the_folder(path: Path, text: str) -> None:
        (Path(path).parent / "other.txt").write_text("not ours")
        full_disk(path, text)

    monkeypatch.setattr(sinks, "write_atomically", fills_the_folder)
    assert main(["profile", "export", "ann", "--out", str(out), "--db", str(db)]) == 1
    capsys.readouterr()
    assert (out.parent / "other.txt").read_text() == "not ours"


# --- 6. a session that is still recording is not deleted ----------------------------------------------


def test_history_delete_refuses_a_session_still_recording_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    from moodlens.store import HistoryStore

    db = str(tmp_path / "h.sqlite3")
    recorder = HistoryStore(db, create=True)  # this process records: its owner is alive
    live = recorder.start_session(name="live", consent=True)
    ended = recorder.start_session(name="done", consent=True)
    recorder.end_session(ended)
    try:
        assert recorder.recording(live) is not None and recorder.recording(ended) is None
        assert main(["history", "delete", str(live), "--yes", "--db", db]) == 2
        _one_line_error(capsys.readouterr().err, f"session {live} is still being recorded", "--force")
        assert recorder.get_session(live).name == "live"
        assert main(["history", "delete", str(ended), "--yes", "--db", db]) == 0
        assert main(["history", "delete", str(live), "--yes", "--force", "--db", db]) == 0
        assert recorder.list_sessions() == []
    finally:
        recorder.close()


# --- 3. batch touches only the files it made -----------------------------------------------------------


@pytest.fixture
def batch_extra() -> None:
    pytest.importorskip("pyarrow", reason="moodlens batch needs the [batch] extra (pyarrow)")


class _HereEngine:
    """Runs units in this process, one after the other (tests about the dataset, not scheduling)."""

    name = "here"

    def run(self, units: list[object], settings: object) -> object:
        from moodlens.batch import analyze_unit

        analyzer = settings.analyzer()  # type: ignore[attr-defined]
        for unit in units:
            yield analyze_unit(unit, analyzer, settings)  # type: ignore[arg-type]


def _batch(photos: list[Path], out: Path, **options: object) -> object:
    from moodlens.batch import AnalysisSettings, expand, run_batch

    items, _ = expand([str(p) for p in photos])
    return run_batch(items, out, _HereEngine(), AnalysisSettings(), **options)  # type: ignore[arg-type]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("foreign", ["notes.txt", "status.parquet", "_state/notes.txt"])
def test_batch_refuses_a_folder_holding_files_it_did_not_make_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], batch_extra: None, foreign: str
) -> None:
    photo = _photo(tmp_path / "p.jpg")
    existing = tmp_path / "existing"
    (existing / foreign).parent.mkdir(parents=True, exist_ok=True)
    (existing / foreign).write_bytes(b"another program's file")
    (existing / ".draft.tmp").write_bytes(b"another program's draft")
    before = _tree(existing)
    assert main(["batch", str(photo), "--out", str(existing), "--workers", "1"]) == 2
    _one_line_error(capsys.readouterr().err, f"--out {existing}", "--force")
    assert _tree(existing) == before
    assert main(["batch", str(photo), "--out", str(existing), "--workers", "1", "--force"]) == 0
    after = _tree(existing)
    assert after[".draft.tmp"] == before[".draft.tmp"]
    if foreign != "status.parquet":
        assert after[foreign] == before[foreign]  # left alone
    assert json.loads(after["_moodlens_batch.json"])["made_by"] == "moodlens batch"
    # From now on it is a dataset of moodlens batch: resumed without --force.
    assert main(["batch", str(photo), "--out", str(existing), "--workers", "1"]) == 0
    assert "1 already done before" in capsys.readouterr().err


def test_batch_deletes_only_its_own_leftovers(tmp_path: Path, batch_extra: None) -> None:
    import subprocess
    import sys

    photo = _photo(tmp_path / "p.jpg")
    out = tmp_path / "out"
    assert _batch([photo], out).done == 1  # type: ignore[attr-defined]
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    dead = int(gone.stdout)
    ours_dead = out / "faces" / f".abc.parquet.moodlens-{dead}.tmp"
    ours_alive = out / "faces" / f".abc.parquet.moodlens-{os.getpid()}.tmp"  # a run still writing
    others = [
        out / "faces" / ".draft.tmp",
        out / ".x.tmp",
        out / "_state" / ".y.json.123.tmp",
        out / "mine.txt",
    ]
    for path in (ours_dead, ours_alive, *others):
        path.write_bytes(b"x")
    assert _batch([photo], out).skipped_before == 1  # type: ignore[attr-defined]
    assert not ours_dead.exists()
    assert ours_alive.exists() and all(p.exists() for p in others)


def test_batch_resumes_its_dataset_and_one_written_before_manifests(
    tmp_path: Path, batch_extra: None
) -> None:
    photos = [_photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg", 30)]
    out = tmp_path / "out"
    assert _batch(photos[:1], out).done == 1  # type: ignore[attr-defined]
    (state,) = [json.loads(p.read_text()) for p in (out / "_state").glob("*.json")]
    assert state["files"] == [f"faces/{state['item_key']}.parquet"]  # what the item made
    (out / "_moodlens_batch.json").unlink()  # as an earlier moodlens left it
    report = _batch(photos, out)
    assert report.skipped_before == 1 and report.done == 1  # type: ignore[attr-defined]
    assert (out / "_moodlens_batch.json").exists()
    # A folder with the layout's names but someone else's file in it is not taken for one.
    (out / "_moodlens_batch.json").unlink()
    (out / "faces" / "summary.csv").write_text("x")
    from moodlens.batch import OutputFolderError

    with pytest.raises(OutputFolderError, match="did not make"):
        _batch(photos, out)


# --- 4. Ctrl-C in batch: stop now, keep what is done ---------------------------------------------------


def _long_video(path: Path, seconds: float = 24, fps: float = 25) -> Path:
    """A 640x360 clip with a moving shape (cheap to encode, as long to analyse as any)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (640, 360))
    ramp = np.tile(np.linspace(40, 200, 640, dtype=np.uint8), (360, 1))
    for i in range(round(seconds * fps)):
        image = cv2.merge([ramp, np.roll(ramp, i * 4, axis=1), ramp])
        cv2.circle(image, (40 + (i * 5) % 560, 180), 40, (20, 20, 230), -1)
        writer.write(image)
    writer.release()
    return path


def _workers(pid: int) -> set[int]:
    """The worker processes that ``pid`` spawned (not its multiprocessing resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and b"spawn_main" in (stat.parent / "cmdline").read_bytes():
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_batch(argv: list[str]) -> object:
    import subprocess
    import sys

    code = "import sys; from moodlens.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "batch", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a command
    )


def _wait_for(condition: object, seconds: float = 180) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_ctrl_c_in_batch_returns_at_once_keeps_finished_work_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], batch_extra: None
) -> None:
    """SIGINT to the whole process group, as Ctrl-C in a terminal: the command returns within 2 s
    with counts, the photos and the video's finished segments are kept, no worker is left, and
    the same command then finishes the job from there."""
    import signal
    import subprocess
    import time

    photos = [_photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg", 30)]
    video = _long_video(tmp_path / "long.avi")
    out = tmp_path / "out"
    argv = [
        *map(str, [*photos, video]),
        "--out",
        str(out),
        "--workers",
        "1",
        "--segment-s",
        "2",
        "--overlap-s",
        "0.4",
    ]
    batch: subprocess.Popen[str] = _start_batch(argv)  # type: ignore[assignment]
    _wait_for(lambda: list(out.glob("_segments/*/0.parquet")) or batch.poll() is not None)
    workers = _workers(batch.pid)
    assert batch.poll() is None and workers, batch.communicate()
    os.killpg(batch.pid, signal.SIGINT)
    sent = time.monotonic()
    _, err = batch.communicate(timeout=30)
    took = time.monotonic() - sent
    assert batch.returncode == 130, err
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err, err
    assert last.startswith("interrupted: 2 done, 1 left (") and last.endswith(
        "; run the same command to resume"
    )
    assert not any(_running(pid) for pid in workers)
    assert len(list((out / "_state").glob("*.json"))) == 2
    kept = sorted(out.glob("_segments/*/*.parquet"))
    assert kept and f"{len(kept)} finished segment(s)" in last
    assert main(["batch", *argv]) == 0
    err = capsys.readouterr().err
    assert "2 already done before" in err and f"resumed from {len(kept)} segment(s)" in err
    assert not (out / "_segments").exists()
    import pandas as pd

    status = pd.read_parquet(out / "status.parquet").set_index("kind")
    assert status.loc["video", "status"] == "done" and status.loc["video", "frames"] == 600


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_batch_workers_die_with_their_driver(tmp_path: Path, batch_extra: None) -> None:
    import subprocess
    import time

    video = _long_video(tmp_path / "long.avi")
    out = tmp_path / "out"
    argv = [str(video), "--out", str(out), "--workers", "2", "--segment-s", "2", "--overlap-s", "0.4"]
    batch: subprocess.Popen[str] = _start_batch(argv)  # type: ignore[assignment]
    _wait_for(lambda: list(out.glob("_segments/*/*.parquet")) or batch.poll() is not None)
    workers = _workers(batch.pid)
    assert batch.poll() is None and len(workers) >= 2
    batch.kill()  # SIGKILL: no handler, no clean-up of its own
    batch.communicate(timeout=30)
    killed = time.monotonic()
    _wait_for(lambda: not any(_running(pid) for pid in workers), seconds=10)
    assert time.monotonic() - killed < 5


# --- moodlens export: a model is two files, and neither may overwrite what it reads ------------------


@pytest.fixture
def exported_model(tmp_path: Path) -> Path:
    from conftest import make_contract_model

    return Path(make_contract_model(tmp_path / "m.onnx", output_gain=1.0))


@pytest.mark.parametrize(
    ("out", "extra", "words"),
    [
        ("m.json", [], ["must end in .onnx"]),  # the copy would go over the model's own metadata
        ("m.onnx", [], ["--out", "input"]),
        ("metrics.onnx", ["--metrics", "metrics.json"], ["metadata", "input"]),
        ("notes.onnx", [], ["notes.json exists", "not the metadata"]),
    ],
)
def test_export_refuses_to_overwrite_its_inputs_or_a_user_s_json(
    out: str,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exported_model: Path,
    extra: list[str],
    words: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "macro_f1": 0.4}))
    (tmp_path / "notes.json").write_text('{"mine": true}')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["export", "m.onnx", "--out", out, *extra]) == 2
    _one_line_error(capsys.readouterr().err, *words)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_export_writes_the_model_and_its_metadata_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], exported_model: Path
) -> None:
    out = tmp_path / "copies" / "mine.onnx"
    assert main(["export", str(exported_model), "--out", str(out)]) == 0
    assert out.read_bytes() == exported_model.read_bytes()
    assert json.loads(out.with_suffix(".json").read_text())["name"] == "mine"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine.json", "mine.onnx"]  # no partial left
    assert main(["export", str(exported_model), "--out", str(out)]) == 0  # a re-export replaces its own
    theirs = out.with_name("mine.partial.onnx")  # an earlier interrupted copy's name, or a user's file
    theirs.write_bytes(b"kept")
    assert main(["export", str(exported_model), "--out", str(out)]) == 0
    assert theirs.read_bytes() == b"kept" and out.read_bytes() == exported_model.read_bytes()


def test_image_out_with_another_kind_of_name_for_one_photo_is_refused_unless_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out out.txt`` for one photo made a folder named out.txt; it is refused (status 2),
    and ``out.txt/`` (a folder asked for) still works."""
    photo = _photo(tmp_path / "a.jpg")
    assert main(["image", str(photo), "--out", str(tmp_path / "out.txt")]) == 2
    _one_line_error(capsys.readouterr().err, "out.txt", "end the name with /")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]
    assert main(["image", str(photo), "--out", f"{tmp_path / 'out.txt'}/"]) == 0
    assert (tmp_path / "out.txt" / "a_moodlens.jpg").is_file()


def test_image_out_in_a_new_folder_is_made_and_a_failed_copy_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "a.jpg")
    target = tmp_path / "new" / "deeper" / "x.jpg"
    assert main(["image", str(photo), "--out", str(target)]) == 0
    assert target.is_file() and f"annotated copy: {target}" in capsys.readouterr().err
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder would be")
    assert main(["image", str(photo), "--out", str(blocked / "x.jpg")]) == 2
    _one_line_error(capsys.readouterr().err, "cannot create", "blocked")
    # A copy that cannot be written says why, and the run does not claim it wrote it.
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "x.jpg").mkdir()  # a folder where the copy goes: the rename fails
    assert main(["image", str(photo), "--out", str(folder / "x.jpg")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the annotated copy" in err and ": Is a directory" in err
    assert "annotated copy:" not in err and "annotated copies:" not in err


def test_export_may_write_into_the_run_folder_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], exported_model: Path
) -> None:
    """A run folder holds the model it exported (model.onnx); exporting again beside it, under
    another name or the name a previous export used, is fine; over model.onnx it is refused when
    that is the file copied."""
    run = tmp_path / "run"
    run.mkdir()
    os.replace(exported_model, run / "model.onnx")
    os.replace(exported_model.with_suffix(".json"), run / "model.json")
    (run / "config.json").write_text(json.dumps({"config": {"network": "vgg_s"}}))
    for _ in range(2):  # the second time over the first one's output
        assert main(["export", str(run / "model.onnx"), "--out", str(run / "crowd.onnx")]) == 0
    assert main(["export", str(run / "model.onnx"), "--out", str(run / "model.onnx")]) == 2
    _one_line_error(capsys.readouterr().err, "--out", "input")


def test_a_session_name_that_would_drive_the_terminal_is_refused_and_old_ones_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    from sqlalchemy import update

    from moodlens.store import HistoryStore
    from moodlens.store.schema import SessionRow

    db = tmp_path / "h.sqlite3"
    clip = str(_video(tmp_path / "clip.avi"))
    with pytest.raises(SystemExit) as refused:  # argparse's usage error
        main(["video", clip, "--db", str(db), "--consent", "--session-name", "a\nb"])
    assert refused.value.code == 2
    assert "--session-name" in capsys.readouterr().err and not db.exists()  # before any work
    assert main(["video", clip, "--db", str(db), "--consent", "--session-name", "take 1"]) == 0
    store = HistoryStore(str(db))
    with store._session() as s, s.begin():  # as a store from before names were checked holds it
        s.execute(update(SessionRow).values(name="evil\x1b]0;pwned\x07\nfake row"))
    store.close()
    capsys.readouterr()
    assert main(["history", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07\\nfake row" in out and len(out.splitlines()) == 2


def test_a_long_live_session_name_is_cut_between_letters_not_inside_one() -> None:
    """The live page's name is kept to 200 characters: counted in NFC form (an accent typed apart
    counts once) and never cut between a letter and its accent, inside a joined emoji, a flag or
    an emoji's skin tone."""
    import unicodedata

    from moodlens.names import MAX_SESSION_NAME, check_session_name, clip_session_name

    typed = "e\u0301" * 150  # 300 code points, 150 letters
    assert clip_session_name(typed) == "\u00e9" * 150
    accent = "a" * 199 + "e\u0301\u0302" + "z"  # the 200th letter carries two accents
    cut = clip_session_name(accent)
    assert cut == "a" * 199 and check_session_name(cut) == cut
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    cut = clip_session_name("x" * 197 + family)
    assert cut == "x" * 197 and len(cut) <= MAX_SESSION_NAME
    plain = "b" * 250
    assert clip_session_name(plain) == "b" * 200
    # Spacing accents typed alone are characters of their own, kept as such.
    assert clip_session_name("^" * 300) == "^" * 200
    assert clip_session_name("x" * 150 + "`" * 100) == "x" * 150 + "`" * 50
    # A flag is two regional letters; a subdivision flag is a black flag and its tags; a skin tone
    # belongs to its emoji.
    france = "\U0001f1eb\U0001f1f7"
    assert clip_session_name("x" * 199 + france) == "x" * 199
    assert clip_session_name("x" * 198 + france + "y") == "x" * 198 + france
    assert clip_session_name(france * 150) == france * 100
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert clip_session_name("x" * 196 + scotland) == "x" * 196
    wave = "\U0001f44b\U0001f3fd"
    assert clip_session_name("x" * 199 + wave) == "x" * 199
    assert unicodedata.is_normalized("NFC", clip_session_name("o\u0308" * 300))
