import csv
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import opencv_frames
from moodlens import Analyzer, FakeClassifier, FakeDetector
from moodlens.cli.main import main
from moodlens.errors import VideoError
from moodlens.pipeline.runner import run_stream
from moodlens.pipeline.sinks import TimelineSink, VideoSink
from moodlens.pipeline.sources import LatestFrameReader, PrefetchReader, VideoFrame, VideoSource
from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings
from moodlens.results import Box, Detection


def _write_avi(
    path: Path, frames: int, size: tuple[int, int] = (160, 120), fps: float = 25, texture: bool = False
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    pattern = cv2.GaussianBlur(
        np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8), (5, 5), 0
    )
    for i in range(frames):
        image = pattern.copy() if texture else np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
        if not texture:
            cv2.putText(image, str(i), (10, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        writer.write(image)
    writer.release()
    return path


def _frame_count(path: Path) -> int:
    return len(opencv_frames(path))


def test_zero_frame_video(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no readable frame"):
        VideoSource(_write_avi(tmp_path / "none.avi", 0))


@pytest.mark.parametrize(
    ("content", "message"), [(b"", "the file is empty"), (b"\x00\x01garbage" * 100, "cannot open the video")]
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        VideoSource(path)
    with pytest.raises(VideoError, match="no such file"):
        VideoSource(tmp_path / "absent.mp4")


def test_frames_carry_indices_and_timestamps(tmp_path: Path) -> None:
    with VideoSource(_write_avi(tmp_path / "v.avi", 10, fps=25)) as source:
        frames = list(source)
        assert source.info.frame_count == 10
    assert [f.index for f in frames] == list(range(10))
    assert [round(f.timestamp_ms) for f in frames] == [i * 40 for i in range(10)]


def test_files_are_decoded_on_one_thread_with_the_same_frames(tmp_path: Path) -> None:
    """One FFmpeg thread (the analysis keeps the cores busy) changes the CPU cost, not the pixels."""
    path = _write_avi(tmp_path / "v.avi", 12, texture=True)
    with VideoSource(path) as source:
        assert source._capture.getBackendName() == "FFMPEG"
        assert source._capture.get(cv2.CAP_PROP_N_THREADS) == 1
        ours = [f.image for f in source]
    theirs = opencv_frames(path)
    assert len(ours) == len(theirs) == 12
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_a_corrupt_frame_mid_stream_is_skipped_and_counted(tmp_path: Path) -> None:
    path = _write_avi(tmp_path / "v.avi", 30)
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    a, b = starts[10], starts[11]
    data[a : b - 8] = bytes(b - 8 - a)  # wipe frame 10's JPEG data
    path.write_bytes(bytes(data))
    with VideoSource(path) as source:
        frames = list(source)
        assert source.corrupt_frames == 1
    assert len(frames) == 29
    assert 10 not in [f.index for f in frames]


def test_latest_frame_reader_drops_instead_of_queueing(tmp_path: Path) -> None:
    import time

    with VideoSource(_write_avi(tmp_path / "v.avi", 60)) as source:
        reader = LatestFrameReader(source)
        got = []
        for frame in reader:
            got.append(frame.index)
            time.sleep(0.01)  # a slow consumer
        reader.close()
    assert got == sorted(got)
    assert len(got) + reader.dropped == 60
    assert got[-1] == 59


def test_prefetch_reader_keeps_every_frame_in_order(tmp_path: Path) -> None:
    path = _write_avi(tmp_path / "v.avi", 40)
    with VideoSource(path) as source:
        direct = [(f.index, f.timestamp_ms, f.image.tobytes()) for f in source]
    with VideoSource(path) as source, PrefetchReader(source, depth=3) as reader:
        ahead = [(f.index, f.timestamp_ms, f.image.tobytes()) for f in reader]
        assert list(reader) == []  # read to the end: a second pass ends at once
    assert ahead == direct


def test_prefetch_reader_raises_the_sources_error_where_it_happened() -> None:
    image = np.zeros((8, 8, 3), np.uint8)

    def frames():  # type: ignore[no-untyped-def]
        yield VideoFrame(image, 0, 0.0)
        yield VideoFrame(image, 1, 40.0)
        raise VideoError("v.mp4: the decoder failed")

    got = []

    def consume() -> None:
        with PrefetchReader(frames()) as reader:
            got.extend(frame.index for frame in reader)

    with pytest.raises(VideoError, match="decoder failed"):
        consume()
    assert got == [0, 1]


def test_prefetch_reader_stops_its_thread_when_the_consumer_stops(tmp_path: Path) -> None:
    import threading

    with VideoSource(_write_avi(tmp_path / "v.avi", 60)) as source:
        reader = PrefetchReader(source, depth=2)
        for frame in reader:
            if frame.index == 3:
                break
        reader.close()  # the reader thread is blocked on a full queue here
        assert not any(t.name == "moodlens-prefetch" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(ValueError, match="depth"):
        PrefetchReader([], depth=0)


class _ChangingClassifier(FakeClassifier):
    """Each call returns other probabilities, so held values can be told from fresh ones."""

    def __init__(self) -> None:
        super().__init__()
        self.crops = 0

    def predict(self, crops: np.ndarray) -> np.ndarray:
        self.crops += len(crops)
        probs = np.full((len(crops), 7), 0.1, np.float32)
        probs[:, self.calls % 7] = 0.4
        self.calls += 1
        return probs


def test_classify_every_ms_holds_each_faces_probabilities_in_between() -> None:
    detector = FakeDetector([Detection(Box(10, 10, 60, 60), 0.9)])
    classifier = _ChangingClassifier()
    settings = StreamSettings(detect_every=1, classify_every_ms=100)  # a face that enters is detected at once
    stream = StreamAnalyzer(Analyzer(detector, classifier), settings)
    image = np.zeros((120, 200, 3), np.uint8)
    results = []
    for i in range(20):  # 25 FPS: 0, 40, ..., 760 ms
        if i == 5:  # a second face enters: classified at once, on its own schedule
            detector.detections = (*detector.detections, Detection(Box(120, 10, 180, 70), 0.9))
        results.append(stream.process(image, timestamp_ms=i * 40.0, frame_index=i))
    first = [r.faces[0].probabilities for r in results]
    # Face 1 is classified at 0, 120, 240, ... ms (every 3rd frame) and holds its values between.
    for i in range(20):
        fresh = i % 3 == 0
        assert np.array_equal(first[i], first[i - 1]) != fresh or i == 0
    second = [r.faces[1] for r in results[5:]]
    # A new face is a person once seen 3 times over >= 100 ms (frame 8, 320 ms); classified at once.
    assert [f.track_id for f in second] == [None] + [2] * 14
    assert not np.array_equal(second[0].probabilities, first[4])  # its own classification at 200 ms
    assert classifier.crops == 7 + 5  # face 1: 0..720 ms; face 2: 200, 320, 440, 560, 680 ms
    assert all(r.faces[0].smoothed is not None for r in results)
    with pytest.raises(ValueError, match="classify_every_ms"):
        StreamSettings(classify_every_ms=-1)


def _stream(detections: list[Detection], **settings: object) -> StreamAnalyzer:
    analyzer = Analyzer(FakeDetector(detections), FakeClassifier())
    return StreamAnalyzer(analyzer, StreamSettings(**settings))  # type: ignore[arg-type]


def test_empty_stream() -> None:
    stream = _stream([])
    assert run_stream([], stream).frames == 0
    assert stream.summaries() == []


def test_stream_tracks_smooths_and_summarises(tmp_path: Path) -> None:
    stream = _stream([Detection(Box(40, 30, 100, 100), 0.9)])
    with VideoSource(_write_avi(tmp_path / "v.avi", 20)) as source:
        stats = run_stream(source, stream)
    assert stats.frames == 20 and stats.faces == 20
    (summary,) = stream.summaries()
    # A person from confirmation on (2 sightings: frame 1), 40 ms a frame; on screen from frame 0.
    assert summary.track_id == 1 and summary.frames == 19
    assert summary.dominant == "happy"
    assert summary.duration_ms == pytest.approx(19 * 40, abs=1)
    assert summary.on_screen_ms == pytest.approx(20 * 40, abs=1)


def test_detect_every_n_follows_faces_in_between(tmp_path: Path) -> None:
    detector = FakeDetector([Detection(Box(40, 30, 100, 100), 0.9)])
    stream = StreamAnalyzer(Analyzer(detector, FakeClassifier()), StreamSettings(detect_every=5))
    with VideoSource(_write_avi(tmp_path / "v.avi", 20, texture=True)) as source:
        results = [stream.process(f.image, timestamp_ms=f.timestamp_ms, frame_index=f.index) for f in source]
    # Detected while the face is tentative (frames 0-1), then every 5th frame.
    assert detector.calls == 5
    assert all(r.faces for r in results)
    assert all(r.faces[0].track_id == 1 for r in results[1:])
    assert sum("follow" in r.timings_ms for r in results) == 15


def test_a_flat_face_patch_is_detected_not_followed() -> None:
    """A patch without contrast matches anywhere equally well: following it would move the box."""
    detector = FakeDetector([Detection(Box(40, 30, 100, 100), 0.9)])
    stream = StreamAnalyzer(Analyzer(detector, FakeClassifier()), StreamSettings(detect_every=5))
    image = np.full((120, 160, 3), 90, np.uint8)
    results = [stream.process(image, timestamp_ms=i * 40.0, frame_index=i) for i in range(10)]
    assert detector.calls == 10
    assert all(r.faces[0].box == Box(40, 30, 100, 100) for r in results)
    assert [r.faces[0].track_id for r in results] == [None] + [1] * 9


def test_a_face_that_cannot_be_followed_is_detected_again(tmp_path: Path) -> None:
    detector = FakeDetector([Detection(Box(40, 30, 100, 100), 0.9)])
    stream = StreamAnalyzer(Analyzer(detector, FakeClassifier()), StreamSettings(detect_every=5))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(10)]  # new noise each frame
    results = [stream.process(f, timestamp_ms=i * 40.0, frame_index=i) for i, f in enumerate(frames)]
    assert detector.calls == 10
    assert all(len(r.faces) == 1 for r in results)


def test_sinks_write_playable_video_and_timeline(tmp_path: Path) -> None:
    stream = _stream([Detection(Box(40, 30, 100, 100), 0.9)])
    out, timeline = tmp_path / "out.avi", tmp_path / "t.csv"
    with (
        VideoSource(_write_avi(tmp_path / "v.avi", 12, size=(161, 121))) as source,
        VideoSink(out, fps=source.info.fps, size=(161, 121)) as video,
        TimelineSink(timeline) as rows,
    ):
        run_stream(source, stream, video=video, sinks=[rows])
    assert _frame_count(out) == 12
    data = list(csv.DictReader(timeline.open()))
    assert len(data) == 12
    assert [row["track_id"] for row in data] == [""] + ["1"] * 11  # a person once confirmed
    assert data[3]["stable_label"] == "happy"
    assert {"p_happy", "s_happy", "timestamp_ms", "frame_index", "x1"} <= set(data[0])


def test_interrupt_leaves_complete_outputs(tmp_path: Path) -> None:
    stream = _stream([Detection(Box(40, 30, 100, 100), 0.9)])
    out, timeline = tmp_path / "out.avi", tmp_path / "t.jsonl"

    def frames():  # type: ignore[no-untyped-def]
        with VideoSource(_write_avi(tmp_path / "v.avi", 30)) as source:
            for frame in source:
                if frame.index == 15:
                    raise KeyboardInterrupt
                yield frame

    with VideoSink(out, fps=25, size=(160, 120)) as video, TimelineSink(timeline) as rows:
        stats = run_stream(frames(), stream, video=video, sinks=[rows])
    assert stats.interrupted and stats.frames == 15
    assert _frame_count(out) == 15
    assert [json.loads(line)["frame_index"] for line in timeline.read_text().splitlines()] == list(range(15))


def test_unwritable_outputs(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="does not exist"):
        VideoSink(tmp_path / "missing" / "x.mp4", fps=25, size=(10, 10))
    with pytest.raises(VideoError, match="unsupported video type"):
        VideoSink(tmp_path / "x.gif", fps=25, size=(10, 10))
    with pytest.raises(VideoError, match="cannot write the timeline"):
        TimelineSink(tmp_path / "missing" / "t.csv")


def test_video_cli_reports_a_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert main(["video", str(tmp_path / "empty.mp4")]) == 1
    assert "the file is empty" in capsys.readouterr().err


def test_camera_cli_without_window_or_outputs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["camera", "--view", "window"]) == 2
    assert "cannot open a window: no display" in capsys.readouterr().err


def test_camera_cli_falls_back_to_the_browser_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a window (no display, or the headless OpenCV), the live picture goes to the browser."""
    monkeypatch.delenv("DISPLAY", raising=False)
    video = _write_avi(tmp_path / "v.avi", 10)
    assert main(["camera", "--device", str(video), "--no-open"]) == 0
    err = capsys.readouterr().err
    assert "live view (no display (DISPLAY is not set)): http://127.0.0.1:" in err


def test_camera_cli_reports_a_missing_camera(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["camera", "--device", "7", "--no-window", "--timeline", str(tmp_path / "t.csv")])
    assert code == 1
    assert "cannot open the camera" in capsys.readouterr().err


def test_camera_cli_live_mode_on_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file stands in for the camera: frames are read as fast as they come and dropped when
    processing lags; the run ends with the file."""
    video = _write_avi(tmp_path / "v.avi", 40)
    summary = tmp_path / "s.json"
    code = main(
        [
            "camera",
            "--device",
            str(video),
            "--no-window",
            "--summary",
            str(summary),
            "--out",
            str(tmp_path / "o.avi"),
        ]
    )
    assert code == 0
    run = json.loads(summary.read_text())["run"]
    assert run["frames"] + run["dropped_frames"] == 40
    assert run["latency_ms_p50"] is not None


# --- real videos ------------------------------------------------------------------------------


FAST = ["--detect-every", "10", "--classify-every-ms", "100", "--min-face", "40", "--max-side", "320"]


@pytest.mark.slow
@pytest.mark.parametrize("options", [[], FAST], ids=["defaults", "fast"])
def test_singer_clip_frame_counts_timeline_and_ids(media: Path, tmp_path: Path, options: list[str]) -> None:
    clip = media / "short_hamilton_clip.mp4"
    out, timeline, summary = tmp_path / "o.mp4", tmp_path / "t.csv", tmp_path / "s.json"
    code = main(
        [
            "video",
            str(clip),
            "--out",
            str(out),
            "--timeline",
            str(timeline),
            "--summary",
            str(summary),
            *options,
        ]
    )
    assert code == 0
    assert _frame_count(out) == _frame_count(clip) == 275
    rows = list(csv.DictReader(timeline.open()))
    data = json.loads(summary.read_text())
    assert len(rows) == data["run"]["faces"]
    by_frame: dict[str, set[str]] = {}
    for row in rows:
        by_frame.setdefault(row["frame_index"], set()).add(row["track_id"])
    # The singer: the longest run of consecutive frames in which one track id is present.
    best = 0
    for track in {r["track_id"] for r in rows}:
        run = longest = 0
        for i in range(275):
            run = run + 1 if track in by_frame.get(str(i), set()) else 0
            longest = max(longest, run)
        best = max(best, longest)
    assert best >= 100, f"the main face changed id too often (longest run {best} frames)"


def _face_patch(media: Path, name: str, size: int = 90) -> np.ndarray:
    from moodlens.detection import create_detector
    from moodlens.images import read_image

    image = read_image(media / name)
    face = create_detector().detect(image)[0].box
    pad = 0.25 * face.height
    crop = image[
        int(max(0, face.y1 - pad)) : int(face.y2 + pad), int(max(0, face.x1 - pad)) : int(face.x2 + pad)
    ]
    return cv2.resize(crop, (size, round(size * crop.shape[0] / crop.shape[1])))


@pytest.mark.slow
def test_two_real_faces_crossing_keep_their_ids(media: Path) -> None:
    a, b = _face_patch(media, "obama.jpg"), _face_patch(media, "rose_leslie_neutral.jpg")
    stream = StreamAnalyzer(Analyzer(classifier=FakeClassifier()))
    xs_by_track: dict[int, list[float]] = {}
    for i in range(45):
        frame = np.full((360, 640, 3), 60, np.uint8)
        ax, bx = 20 + 11 * i, 530 - 11 * i
        frame[100 : 100 + b.shape[0], bx : bx + b.shape[1]] = b
        frame[120 : 120 + a.shape[0], ax : ax + a.shape[1]] = a  # a passes in front of b
        result = stream.process(frame, timestamp_ms=i * 40.0, frame_index=i)
        for face in result.faces:
            assert face.track_id is not None or i < 4  # a person from the 4th frame on
            if face.track_id is not None:
                xs_by_track.setdefault(face.track_id, []).append(face.box.center[0])
    long_tracks = {k: v for k, v in xs_by_track.items() if len(v) >= 10}
    assert len(long_tracks) == 2, xs_by_track
    directions = sorted(np.sign(np.diff(v)).mean() for v in long_tracks.values())
    assert directions[0] < -0.8 and directions[1] > 0.8  # one id always moves left, the other right


def test_no_raw_opencv_or_ffmpeg_lines_before_our_message(tmp_path: Path) -> None:
    """The first line a user sees about a bad video or camera is moodlens's own."""
    import subprocess
    import sys

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    for argv in (["video", str(bad)], ["camera", "--device", "7", "--view", "none", "--timeline", "t.csv"]):
        result = subprocess.run(
            [sys.executable, "-m", "moodlens.cli.main", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert lines and lines[0].startswith(f"moodlens {argv[0]}: error:"), result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("detect_every", [1, 3])
def test_parallel_and_sequential_paths_give_the_same_results(media: Path, detect_every: int) -> None:
    """On the real singer clip: detection running a frame ahead on another thread changes nothing:
    the same boxes, ids, labels and summaries as the sequential loop, with scheduled keyframes too."""
    from moodlens.pipeline.sinks import timeline_rows

    def run(parallel: bool) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        stream = StreamAnalyzer(Analyzer(), StreamSettings(detect_every=detect_every))
        rows: list[dict[str, object]] = []

        class Collect:
            def write(self, result: object) -> None:
                rows.extend(timeline_rows(result))  # type: ignore[arg-type]

        with VideoSource(media / "short_hamilton_clip.mp4") as source:
            stats = run_stream(source, stream, sinks=[Collect()], parallel=parallel)
        assert stats.frames == 275
        return rows, [s.to_dict() for s in stream.summaries()]

    sequential, parallel = run(False), run(True)
    assert parallel[0] == sequential[0]
    assert parallel[1] == sequential[1]


def test_a_shot_cut_forces_detection_between_keyframes(tmp_path: Path) -> None:
    """With detection every 10 frames, a cut at frame 13 is detected at frame 13, not at 20."""
    detector = FakeDetector([Detection(Box(40, 30, 100, 100), 0.9)])
    stream = StreamAnalyzer(Analyzer(detector, FakeClassifier()), StreamSettings(detect_every=10))
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 120, (120, 160, 3), dtype=np.uint8), (5, 5), 0)
    shots = [cv2.add(texture, np.full((120, 160, 3), c, np.uint8)) for c in ((120, 60, 10), (10, 40, 130))]
    results = []
    for i in range(20):
        frame = shots[0 if i < 13 else 1]
        results.append(stream.process(frame.copy(), timestamp_ms=i * 40.0, frame_index=i))
    assert [i for i, r in enumerate(results) if r.cut] == [13]
    assert "follow" in results[11].timings_ms and "follow" in results[12].timings_ms
    assert "detect" in results[13].timings_ms
    assert results[13].faces[0].track_id is None  # a new shot: a new person, not yet confirmed
    assert results[12].faces[0].track_id == 1


def test_the_detection_thread_stops_when_the_loop_ends_early(tmp_path: Path) -> None:
    import threading

    stream = _stream([Detection(Box(40, 30, 100, 100), 0.9)])
    with VideoSource(_write_avi(tmp_path / "v.avi", 40)) as source:
        stats = run_stream(source, stream, on_frame=lambda frame, result, drawn: frame.index < 5)
    assert stats.frames == 6
    assert not any(t.name == "moodlens-detect" and t.is_alive() for t in threading.enumerate())


def test_an_error_in_the_detection_stage_reaches_the_caller(tmp_path: Path) -> None:
    class Broken(FakeDetector):
        def detect(self, image: np.ndarray) -> list[Detection]:
            raise RuntimeError("detector exploded")

    stream = StreamAnalyzer(Analyzer(Broken([]), FakeClassifier()))
    with (
        VideoSource(_write_avi(tmp_path / "v.avi", 10)) as source,
        pytest.raises(RuntimeError, match="exploded"),
    ):
        run_stream(source, stream)


def test_a_video_cut_short_is_reported_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = _write_avi(tmp_path / "full.avi", 100)
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    summary = tmp_path / "s.json"
    assert main(["video", str(cut), "--summary", str(summary)]) == 1
    err = capsys.readouterr().err
    assert "before the end its container announces" in err
    run = json.loads(summary.read_text())["run"]
    assert run["missing_frames"] > 30 and run["frames"] + run["missing_frames"] == 100
    assert main(["video", str(full)]) == 0  # a whole file is not reported


# --- Matroska and WebM, whose frame count is an estimate; files really cut short -------------------
#
# Built here, byte by byte (EBML is simple), so that the tests need nothing but OpenCV: a browser's
# or a phone's recording has a variable frame rate, and OpenCV's frame count for Matroska is the
# duration times the frame rate, which such a whole file does not reach.


def _element(ident: int, payload: bytes) -> bytes:
    """An EBML element: its id, its size (always 8 bytes long: valid, and simple), its payload."""
    return (
        ident.to_bytes((ident.bit_length() + 7) // 8, "big")
        + b"\x01"
        + len(payload).to_bytes(7, "big")
        + payload
    )


def _uint(ident: int, value: int) -> bytes:
    return _element(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _text(ident: int, value: str) -> bytes:
    return _element(ident, value.encode())


def _ebml(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of the EBML elements in ``data[start:end]``."""
    end = len(data) if end is None else end
    while start < end:
        width = 9 - data[start].bit_length()
        ident = int.from_bytes(data[start : start + width], "big")
        start += width
        width = 9 - data[start].bit_length()
        size = int.from_bytes(data[start : start + width], "big") & ((1 << (7 * width)) - 1)
        start += width
        if size == (1 << (7 * width)) - 1:  # unknown size: to the end of its parent
            size = end - start
        yield ident, start, min(end, start + size)
        start += size


SEGMENT, CLUSTER, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK = 0x18538067, 0x1F43B675, 0xA3, 0xA0, 0xA1


def _blocks(data: bytes, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The frames of a Matroska file's first track, in file order."""
    for ident, begin, stop in _ebml(data, start, end):
        if ident in (SEGMENT, CLUSTER, BLOCK_GROUP):
            yield from _blocks(data, begin, stop)
        elif ident in (SIMPLE_BLOCK, BLOCK):
            yield data[begin + 4 : stop]  # after the track number (1 byte), timecode and flags


def write_matroska(
    path: Path,
    frames: list[bytes],
    times_ms: list[int],
    *,
    size: tuple[int, int] = (160, 120),
    fps: float = 25,
    codec: str = "V_MJPEG",
    doctype: str = "matroska",
) -> Path:
    """A Matroska (or WebM) file: ``frames`` shown at ``times_ms``, a track that says ``fps``, and a
    duration to the end of the last frame, as muxers write them. A cluster per frame, since a
    block's time within its cluster is 16 bits."""
    header = _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _text(0x4282, doctype)
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    frame_ms = 1000.0 / fps
    info = _element(
        0x1549A966,
        _uint(0x2AD7B1, 1_000_000)  # timestamps in ms
        + _text(0x4D80, "moodlens tests")
        + _text(0x5741, "moodlens tests")
        + _element(0x4489, struct.pack(">d", times_ms[-1] + frame_ms)),
    )
    video = _element(0xE0, _uint(0xB0, size[0]) + _uint(0xBA, size[1]))
    track = _element(
        0xAE,
        _uint(0xD7, 1)
        + _uint(0x73C5, 1)
        + _uint(0x83, 1)
        + _text(0x86, codec)
        + _uint(0x23E383, round(1e9 / fps))
        + video,
    )
    clusters = b""
    for frame, time_ms in zip(frames, times_ms, strict=True):
        key = codec != "V_VP8" or not frame[0] & 1  # a VP8 key frame's first bit is 0
        block = b"\x81" + (0).to_bytes(2, "big") + (b"\x80" if key else b"\x00") + frame
        clusters += _element(CLUSTER, _uint(0xE7, time_ms) + _element(SIMPLE_BLOCK, block))
    path.write_bytes(header + _element(SEGMENT, info + _element(0x1654AE6B, track) + clusters))
    return path


def _images(count: int, size: tuple[int, int] = (160, 120)) -> list[np.ndarray]:
    images = []
    for i in range(count):
        image = np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
        cv2.putText(image, str(i), (10, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        images.append(image)
    return images


def jpeg_frames(count: int) -> list[bytes]:
    return [cv2.imencode(".jpg", image)[1].tobytes() for image in _images(count)]


def vp8_frames(folder: Path, count: int) -> list[bytes]:
    """VP8 frames, as OpenCV's FFmpeg encodes them into a WebM (skips where it cannot)."""
    path = folder / "opencv.webm"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"VP80"), 25, (160, 120))
    for image in _images(count):
        writer.write(image)
    writer.release()
    frames = list(_blocks(path.read_bytes())) if path.exists() else []
    if len(frames) != count:
        pytest.skip("this OpenCV cannot write VP8 WebM")
    return frames


def dropped_frames_times(count: int) -> list[int]:
    """A recording that says 25 FPS and dropped every other frame now and then: frames 40 ms and
    120 ms apart in turn, so its duration at 25 FPS holds twice as many frames as it has."""
    return [sum(40 if k % 2 == 0 else 120 for k in range(i)) for i in range(count)]


@pytest.mark.parametrize("container", ["mkv", "webm"])
def test_whole_matroska_and_webm_are_read_to_their_end_with_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], container: str
) -> None:
    """``moodlens video`` on valid Matroska and WebM files of a variable frame rate: every frame
    read, no 'cut short' warning, exit 0 (OpenCV's frame count for them is an estimate)."""
    if container == "mkv":
        frames, codec, doctype = jpeg_frames(50), "V_MJPEG", "matroska"
    else:
        frames, codec, doctype = vp8_frames(tmp_path, 50), "V_VP8", "webm"
    path = write_matroska(
        tmp_path / f"phone.{container}", frames, dropped_frames_times(50), codec=codec, doctype=doctype
    )
    with VideoSource(path) as source:
        read = list(source)
        estimate = source.info.frame_count
        assert len(read) == 50 and estimate is not None and estimate > 90  # 3.92 s x 25 FPS
        assert source.missing_frames == estimate - 50 and not source.cut_short
    summary = tmp_path / "s.json"
    assert main(["video", str(path), "--summary", str(summary)]) == 0
    err = capsys.readouterr().err
    assert "cut short" not in err and "50 frames" in err
    assert json.loads(summary.read_text())["run"]["missing_frames"] == 0


def faststart(data: bytes) -> bytes:
    """An MP4 with its index (``moov``) moved before the frames, as ``ffmpeg -movflags +faststart``
    does and as files streamed over the web are: such a file cut short still opens."""

    def boxes(start: int, end: int) -> list[tuple[bytes, int, int]]:
        found = []
        while start < end:
            size, kind = struct.unpack(">I4s", data[start : start + 8])
            found.append((kind, start, start + size))
            start += size
        return found

    top = boxes(0, len(data))
    (moov,) = [(s, e) for k, s, e in top if k == b"moov"]
    shift = moov[1] - moov[0]
    patched = bytearray(data[moov[0] : moov[1]])

    def patch(start: int, end: int) -> None:
        for kind, s, e in boxes(start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                patch(s + 8, e)
            elif kind in (b"stco", b"co64"):
                wide = kind == b"co64"
                (entries,) = struct.unpack(">I", data[s + 12 : s + 16])
                for i in range(entries):
                    at = s + 16 + i * (8 if wide else 4)
                    code = ">Q" if wide else ">I"
                    (offset,) = struct.unpack(code, data[at : at + struct.calcsize(code)])
                    struct.pack_into(code, patched, at - moov[0], offset + shift)

    patch(moov[0] + 8, moov[1])
    head = [data[s:e] for k, s, e in top if k == b"ftyp"]
    rest = [data[s:e] for k, s, e in top if k not in (b"ftyp", b"moov")]
    return b"".join([*head, bytes(patched), *rest])


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_video_really_cut_short_still_gets_the_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], container: str
) -> None:
    if container == "mp4":
        whole = tmp_path / "whole.mp4"
        writer = cv2.VideoWriter(str(whole), cv2.VideoWriter.fourcc(*"mp4v"), 25, (160, 120))
        for image in _images(100):
            writer.write(image)
        writer.release()
        data = faststart(whole.read_bytes())
    else:
        data = write_matroska(
            tmp_path / "whole.mkv", jpeg_frames(100), [i * 40 for i in range(100)]
        ).read_bytes()
    full = tmp_path / f"full.{container}"
    full.write_bytes(data)
    assert main(["video", str(full)]) == 0
    assert "cut short" not in capsys.readouterr().err
    cut = tmp_path / f"cut.{container}"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    summary = tmp_path / "s.json"
    assert main(["video", str(cut), "--summary", str(summary)]) == 1
    assert "the file is probably cut short" in capsys.readouterr().err
    run = json.loads(summary.read_text())["run"]
    assert run["missing_frames"] > 30 and run["frames"] + run["missing_frames"] == 100
