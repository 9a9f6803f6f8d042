"""``moodlens batch``: the same results as ``image`` and ``video``, resumable, segment joins that match
a single-process run, workers that die and are retried, and Ray."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="moodlens batch needs the [batch] extra (pyarrow)")
pd = pytest.importorskip("pandas", reason="the dataset is read back with pandas ([dev] extra)")

from conftest import opencv_frames  # noqa: E402
from moodlens.batch import (  # noqa: E402
    AnalysisSettings,
    DatasetMismatchError,
    LocalEngine,
    Progress,
    Segmenting,
    Unit,
    UnitResult,
    analyze_unit,
    expand,
    plan,
    run_batch,
)
from moodlens.cli.main import main  # noqa: E402
from moodlens.images import read_image  # noqa: E402
from moodlens.labels import LABELS  # noqa: E402
from moodlens.personal import Profile  # noqa: E402

SETTINGS = AnalysisSettings()


def _faces(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "faces").sort_values(["source", "frame_index", "x1"]).reset_index(drop=True)


# --- inputs ---------------------------------------------------------------------------------------


def test_inputs_files_folders_globs_and_manifests(tmp_path: Path) -> None:
    assert expand([]) == ([], [])
    (tmp_path / "a").mkdir()
    for name in ("a/one.jpg", "a/two.png", "clip.mp4", "notes.txt.bak"):
        (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\na/one.jpg,x\nclip.mp4,y\nmissing.jpg,z\n")
    items, problems = expand([str(tmp_path / "a"), str(tmp_path / "*.mp4"), str(manifest), "rtsp://cam/1"])
    assert [Path(i.source).name for i in items[:3]] == ["one.jpg", "two.png", "clip.mp4"]
    assert [i.kind for i in items] == ["photo", "photo", "video", "video"]
    assert len({i.key for i in items}) == len(items)
    assert [Path(p[0]).name for p in problems] == ["missing.jpg"]
    empty, why = expand([str(tmp_path / "nothing-*.jpg"), str(tmp_path / "notes.txt.bak")])
    assert empty == [] and len(why) == 2


def test_a_changed_file_gets_a_new_key(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"one")
    (first,), _ = expand([str(photo)])
    photo.write_bytes(b"two!")
    (second,), _ = expand([str(photo)])
    assert first.key != second.key
    (hashed,), _ = expand([str(photo)], content_hash=True)
    os.utime(photo, (1, 1))
    assert expand([str(photo)], content_hash=True)[0][0].key == hashed.key  # bytes, not time


def test_planning_cuts_long_videos_into_overlapping_segments(media: Path) -> None:
    (item,), _ = expand([str(media / "short_hamilton_clip.mp4")])
    units, problems = plan([item], Segmenting(segment_s=3, overlap_s=1))
    assert problems == []
    assert [(u.warmup_frame, u.start_frame, u.end_frame) for u in units] == [
        (0, 0, 90), (60, 90, 180), (150, 180, 270), (240, 270, None)
    ]  # fmt: skip
    assert sum(u.frames_expected for u in units) == 275
    whole, _ = plan([item], Segmenting(segment_s=120))
    assert len(whole) == 1


# --- results --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_photos_and_videos_give_what_image_and_video_give(media: Path, tmp_path: Path) -> None:
    import csv

    from moodlens import Analyzer
    from moodlens.images import read_image

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("obama_and_biden.jpg", "friends_group6.jpg", "short_hamilton_clip.mp4"):
        shutil.copy(media / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"not a photo")
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--workers", "2"]) == 1  # the broken photo
    faces = _faces(out)
    analyzer = Analyzer()
    for name in ("obama_and_biden.jpg", "friends_group6.jpg"):
        expected = analyzer.analyze(read_image(folder / name))
        got = faces[faces.source.str.endswith(name)].sort_values("x1")
        assert len(got) == len(expected.faces)
        for face, (_, row) in zip(
            sorted(expected.faces, key=lambda f: f.box.x1), got.iterrows(), strict=True
        ):
            assert row.label == face.label and row.p_happy == pytest.approx(face.probabilities[3], abs=1e-5)
    timeline = tmp_path / "t.csv"
    assert main(["video", str(folder / "short_hamilton_clip.mp4"), "--timeline", str(timeline)]) == 0
    rows = list(csv.DictReader(timeline.open()))
    video = faces[faces.source.str.endswith(".mp4")]
    assert len(video) == len(rows)
    assert sorted(video.track_id.dropna().astype(int).tolist()) == sorted(
        int(r["track_id"]) for r in rows if r["track_id"]
    )
    status = pd.read_parquet(out / "status.parquet").set_index("source")
    assert status.loc[str((folder / "broken.jpg").resolve()), "status"] == "failed"
    assert "cannot decode" in status.loc[str((folder / "broken.jpg").resolve()), "reason"]
    assert (status.status == "done").sum() == 3
    tracks = pd.read_parquet(out / "tracks")
    assert set(tracks.columns) >= {"track_id", "duration_ms", "dominant", "share_happy", "valence"}


def test_a_second_run_skips_everything_and_duplicates_nothing(media: Path, tmp_path: Path) -> None:
    items, _ = expand([str(media / "obama.jpg"), str(media / "kit_with_rose.jpg")])
    out = tmp_path / "out"
    updates: list[Progress] = []
    first = run_batch(items, out, LocalEngine(1), SETTINGS, progress=updates.append)
    assert first.done == 2 and first.faces == 3
    assert [(u.items_done, u.items_total, u.frames_done, u.frames_total) for u in updates] == [
        (1, 2, 1, 2),
        (2, 2, 2, 2),
    ]
    before = _faces(out)
    second = run_batch(items, out, LocalEngine(1), SETTINGS)
    assert second.skipped_before == 2 and second.done == 0
    pd.testing.assert_frame_equal(_faces(out), before)
    assert not list(out.glob("*/.*.tmp"))


def test_a_file_replaced_between_runs_is_in_the_dataset_once(media: Path, tmp_path: Path) -> None:
    """The new version is analysed; the old version's faces, tracks and state are gone."""
    photo = tmp_path / "in" / "p.jpg"
    photo.parent.mkdir()
    shutil.copy(media / "obama.jpg", photo)
    other = tmp_path / "in" / "q.jpg"
    shutil.copy(media / "sad_child.jpg", other)
    out = tmp_path / "out"
    items, _ = expand([str(photo.parent)])
    assert run_batch(items, out, LocalEngine(1), SETTINGS).faces == 2
    shutil.copy(media / "kit_with_rose.jpg", photo)  # two faces now
    os.utime(photo, (2_000_000_000, 2_000_000_000))
    items, _ = expand([str(photo.parent)])
    second = run_batch(items, out, LocalEngine(1), SETTINGS)
    assert second.done == 1 and second.skipped_before == 1
    faces = _faces(out)
    assert faces.groupby("source").size().to_dict() == {str(photo): 2, str(other): 1}
    assert len(list((out / "_state").glob("*.json"))) == len(list((out / "faces").glob("*.parquet"))) == 2
    status = pd.read_parquet(out / "status.parquet")
    assert sorted(status.source) == sorted([str(photo), str(other)])


def test_failures_are_retried_only_when_asked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    items, _ = expand([str(bad)])
    out = tmp_path / "out"
    assert run_batch(items, out, LocalEngine(1), SETTINGS).failed == 1
    assert run_batch(items, out, LocalEngine(1), SETTINGS).skipped_before == 1
    assert run_batch(items, out, LocalEngine(1), SETTINGS, retry_failed=True).failed == 1


def _long_video(media: Path, target: Path) -> Path:
    """The real singer clip three times over (27.5 s), as one file."""
    frames = opencv_frames(media / "short_hamilton_clip.mp4")
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"MJPG"), 29.97, (640, 360))
    for _ in range(3):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return target


@pytest.mark.slow
def test_a_segmented_long_video_matches_the_single_process_run(media: Path, tmp_path: Path) -> None:
    """Same faces in every frame, the same people (track partition) and the same summaries within
    1% of time on screen, whether the video runs in one piece or in 6 s segments on 2 workers."""
    video = _long_video(media, tmp_path / "long.avi")
    items, _ = expand([str(video)])
    whole = run_batch(items, tmp_path / "whole", LocalEngine(1), SETTINGS, segmenting=Segmenting(600))
    parts = run_batch(items, tmp_path / "parts", LocalEngine(2), SETTINGS, segmenting=Segmenting(6, 2))
    assert whole.frames == parts.frames == 825
    a, b = _faces(tmp_path / "whole"), _faces(tmp_path / "parts")
    assert len(a) == len(b)
    joined = a.merge(b, on=["frame_index", "x1", "y1"], suffixes=("_one", "_seg"))
    assert len(joined) == len(a)  # the same faces, frame by frame
    pairs = (
        joined.dropna(subset=["track_id_one", "track_id_seg"]).groupby("track_id_one").track_id_seg.nunique()
    )
    assert (pairs == 1).all(), pairs[pairs > 1]  # no person split by a segment boundary
    inverse = (
        joined.dropna(subset=["track_id_one", "track_id_seg"]).groupby("track_id_seg").track_id_one.nunique()
    )
    assert (inverse == 1).all()  # and no two people merged
    ta = pd.read_parquet(tmp_path / "whole" / "tracks").set_index("track_id")
    tb = pd.read_parquet(tmp_path / "parts" / "tracks")
    mapping = joined.dropna(subset=["track_id_seg"]).groupby("track_id_seg").track_id_one.first()
    tb = tb.assign(track_id=tb.track_id.map(mapping)).set_index("track_id")
    for track_id, row in ta.iterrows():
        other = tb.loc[track_id]
        assert other.duration_ms == pytest.approx(row.duration_ms, rel=0.01, abs=70)
        assert (
            other.dominant == row.dominant
            or abs(other[f"share_{row.dominant}"] - row[f"share_{row.dominant}"]) < 0.05
        )


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_no_row_is_lost_or_duplicated(media: Path, tmp_path: Path) -> None:
    import multiprocessing

    folder = tmp_path / "in"
    folder.mkdir()
    names = ["obama.jpg", "kit_with_rose.jpg", "group3_outdoor.jpg", "friends_group6.jpg", "sad_child.jpg"]
    for k in range(3):
        for name in names:
            shutil.copy(media / name, folder / f"{k}_{name}")
    items, _ = expand([str(folder)])
    reference = run_batch(items, tmp_path / "reference", LocalEngine(2), SETTINGS)
    killed: list[int] = []

    def kill_one(update: Progress) -> None:
        if not killed:
            victim = multiprocessing.active_children()[0].pid
            assert victim is not None
            killed.append(victim)
            os.kill(victim, signal.SIGKILL)

    report = run_batch(items, tmp_path / "out", LocalEngine(2), SETTINGS, progress=kill_one)
    assert killed and report.done == len(items) and report.failed == 0
    pd.testing.assert_frame_equal(
        _faces(tmp_path / "out").drop(columns=["item_key"]),
        _faces(tmp_path / "reference").drop(columns=["item_key"]),
    )
    assert reference.faces == report.faces


# --- Ray ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["cluster", "in-process"])
def ray_engine(request: pytest.FixtureRequest) -> object:
    """Every Ray test runs twice: on the cluster at ``MOODLENS_TEST_RAY_ADDRESS`` (CI starts a head on
    loopback; skipped without one) and on an in-process ``ray.init``, the two ways users start Ray."""
    ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    from moodlens.batch import RayEngine

    address = os.environ.get("MOODLENS_TEST_RAY_ADDRESS") if request.param == "cluster" else None
    if request.param == "cluster" and not address:
        pytest.skip("no Ray cluster: set MOODLENS_TEST_RAY_ADDRESS (CI starts a head on loopback)")
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # "local": a new instance in this process even where a cluster is running.
            ray.init(address="local", num_cpus=2, log_to_driver=False, include_dashboard=False)
    except Exception as exc:  # Ray cannot start here: say why
        pytest.skip(f"Ray cannot start here ({type(exc).__name__}: {exc}); CI starts a head on loopback")
    yield RayEngine(address)
    ray.shutdown()


@pytest.mark.slow
def test_the_ray_engine_gives_the_local_engine_s_dataset(
    media: Path, tmp_path: Path, ray_engine: object
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("obama.jpg", "friends_group6.jpg", "short_hamilton_clip.mp4"):
        shutil.copy(media / name, folder / name)
    items, _ = expand([str(folder)])
    local = run_batch(items, tmp_path / "local", LocalEngine(2), SETTINGS, segmenting=Segmenting(4, 1))
    distributed = run_batch(items, tmp_path / "ray", ray_engine, SETTINGS, segmenting=Segmenting(4, 1))  # type: ignore[arg-type]
    assert local.done == distributed.done == 3
    pd.testing.assert_frame_equal(_faces(tmp_path / "local"), _faces(tmp_path / "ray"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "local" / "tracks")
        .sort_values(["source", "track_id"])
        .reset_index(drop=True),
        pd.read_parquet(tmp_path / "ray" / "tracks")
        .sort_values(["source", "track_id"])
        .reset_index(drop=True),
    )


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried(media: Path, tmp_path: Path, ray_engine: object) -> None:
    """Ray's actors restart and their tasks are retried: killing a worker process loses no row."""
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(6):
        shutil.copy(media / "friends_group6.jpg", folder / f"{k}.jpg")
    items, _ = expand([str(folder)])
    killed: list[int] = []

    def kill_one(update: Progress) -> None:
        if killed:
            return
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                command = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ray::Worker" in command:
                killed.append(int(proc.name))
                os.kill(int(proc.name), signal.SIGKILL)
                return

    report = run_batch(items, tmp_path / "out", ray_engine, SETTINGS, progress=kill_one)  # type: ignore[arg-type]
    assert report.done == 6 and report.failed == 0
    assert len(_faces(tmp_path / "out")) == 36
    if not killed:
        pytest.skip("no Ray worker process found to kill (another layout of Ray's processes)")


# --- personal profiles ----------------------------------------------------------------------------


class InProcessEngine:
    """Runs units here, one after the other: for tests about the dataset, not about scheduling."""

    name = "in-process"

    def run(self, units: list[Unit], settings: AnalysisSettings) -> Iterator[UnitResult]:
        analyzer = settings.analyzer()
        for unit in units:
            yield analyze_unit(unit, analyzer, settings)


@pytest.fixture
def ann(media: Path, tmp_path: Path) -> tuple[str, Profile]:
    """A real profile in a real SQLite store: its neutral baseline from a photo of a face at rest,
    fitted for the default model as ``--profile ann`` fits it."""
    pytest.importorskip("sqlalchemy", reason="profiles live in the history store ([store] extra)")
    from moodlens.cli.profile import ProfileChoice, load_profile
    from moodlens.personal import model_id
    from moodlens.store import HistoryStore
    from moodlens.store.profiles import NewSample

    analyzer = SETTINGS.analyzer()
    (face,) = analyzer.analyze(read_image(media / "rose_leslie_neutral.jpg")).faces
    db = str(tmp_path / "profiles.sqlite3")
    store = HistoryStore(db)
    try:
        store.create_profile("ann", consent=True)
        store.add_profile_samples(
            "ann",
            [
                NewSample(
                    kind="neutral", probabilities=face.probabilities, model=model_id(analyzer.classifier)
                )
            ],
        )
    finally:
        store.close()
    return db, load_profile(ProfileChoice("ann", None), db, analyzer.classifier)


def _video_through(profile: Profile, video: Path) -> dict[tuple[int, float], tuple[str | None, str, str]]:
    """``moodlens video --profile``'s reading, in one process: (frame, x1) -> (profile, label, shown)."""
    from moodlens.pipeline.sources import VideoSource

    stream = dataclasses.replace(SETTINGS, profile=profile).stream(SETTINGS.analyzer())
    out = {}
    with VideoSource(str(video)) as source:
        for frame in source:
            result = stream.process(frame.image, timestamp_ms=frame.timestamp_ms, frame_index=frame.index)
            for face in result.faces:
                out[(frame.index, round(face.box.x1, 2))] = (face.profile, face.label, face.shown_label)
    return out


def _text(value: object) -> str | None:
    """A string cell as read back by pandas (a null is NaN or None)."""
    return value if isinstance(value, str) else None


def _check_readings(rows: pd.DataFrame, profile: Profile) -> None:
    """Both readings in every row: personal rows hold the profile applied to the model's m_."""
    model = rows[[f"m_{n}" for n in LABELS]]
    personal = rows.profile.notna()
    assert (model.notna().all(axis=1) == personal).all()  # m_ exactly where a profile applied
    if personal.any():
        expected = profile.apply(model[personal].to_numpy())
        got = rows.loc[personal, [f"p_{n}" for n in LABELS]].to_numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert (rows.loc[personal, "profile"] == profile.name).all()


#: photo -> the face (0-based, as ``moodlens image`` numbers them) read through the profile, or why
#: none was: ("note", words of the reason), or None (no face, nothing to say).
PHOTO_CASES = {
    "ann": {
        "grass_no_face.jpg": None,
        "obama.jpg": 0,
        "obama_and_biden.jpg": ("note", "faces: say which one is ann's"),
    },
    "ann@2": {
        "grass_no_face.jpg": None,
        "obama.jpg": ("note", "no face 2: found 1"),
        "obama_and_biden.jpg": 1,
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("choice", list(PHOTO_CASES))
def test_a_profile_reads_one_face_per_photo_and_a_video_s_main_track(
    choice: str, media: Path, tmp_path: Path, ann: tuple[str, Profile], capsys: pytest.CaptureFixture[str]
) -> None:
    """``moodlens batch --profile`` on 2 workers gives ``moodlens image --profile``'s photos and
    ``moodlens video --profile``'s video (NAME@N chooses a photo's face, never a video's track),
    here with the video cut into three segments."""
    from moodlens.personal import personalise

    db, profile = ann
    cases = PHOTO_CASES[choice]
    folder = tmp_path / "in"
    folder.mkdir()
    for name in [*cases, "short_hamilton_clip.mp4"]:
        shutil.copy(media / name, folder / name)
    out = tmp_path / "out"
    argv = ["batch", str(folder), "--out", str(out), "--workers", "2", "--segment-s", "4", "--overlap-s", "1"]
    code = main([*argv, "--profile", choice, "--db", db])
    err = capsys.readouterr().err
    assert code == 1  # one photo in each table keeps the model's reading: reported, as image does
    faces = _faces(out)
    status = pd.read_parquet(out / "status.parquet").set_index("source")
    assert (status.status == "done").all() and (status.profile == choice).all()
    analyzer = SETTINGS.analyzer()
    for name, expected in cases.items():
        source = str(folder / name)
        rows = faces[faces.source == source]
        _check_readings(rows, profile)
        model = analyzer.analyze(read_image(folder / name))
        assert len(rows) == len(model.faces)
        if isinstance(expected, tuple):
            assert (
                expected[1] in status.loc[source, "reason"] and "not applied" in status.loc[source, "reason"]
            )
            assert f"{source}: profile 'ann' not applied" in err
            assert rows.profile.isna().all()
            continue
        assert status.loc[source, "reason"] == ""
        if expected is None:
            assert rows.empty
            continue
        wanted = personalise(model, profile, expected)  # what moodlens image --profile gives
        for face, (_, row) in zip(sorted(wanted.faces, key=lambda f: f.box.x1), rows.iterrows(), strict=True):
            assert _text(row.profile) == face.profile and row.label == face.label
            assert row.p_happy == pytest.approx(face.probabilities[3], abs=1e-5)
        assert rows.profile.notna().sum() == 1
    video = faces[faces.source.str.endswith(".mp4")]
    _check_readings(video, profile)
    assert (video[video.profile.notna()].groupby("frame_index").size() == 1).all()  # one person at most
    assert video.loc[video.profile.notna(), "track_id"].notna().all()  # a confirmed track
    reference = _video_through(profile, folder / "short_hamilton_clip.mp4")
    got = {
        (int(r.frame_index), round(float(r.x1), 2)): (
            _text(r.profile),
            r.label,
            r.shown_label,
        )
        for r in video.itertuples()
    }
    # On this clip every segment picks the person one process keeps (see docs/scaling.md for when
    # a segment may pick another).
    assert got == reference
    assert any(p == "ann" for p, _, _ in reference.values())
    tracks = pd.read_parquet(out / "tracks").set_index("track_id")
    counted = video[video.profile.notna()].groupby("track_id").size()
    assert tracks.profile_frames.sum() == counted.sum() == video.profile.notna().sum()
    for track_id, frames in counted.items():
        assert tracks.loc[track_id, "profile"] == "ann" and tracks.loc[track_id, "profile_frames"] == frames
    metadata = pa.parquet.read_schema(next((out / "faces").glob("*.parquet"))).metadata
    recorded = json.loads(metadata[b"moodlens.profile"])
    assert recorded == {"choice": choice, "name": "ann", "neutral_samples": 1, "corrections": 0}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "nobody"], "no profile named 'nobody'"),
        (["--profile", "bob"], "no baseline"),
    ],
)
def test_an_unknown_profile_or_one_without_baseline_is_exit_2_before_any_work(
    argv: list[str],
    message: str,
    *,
    media: Path,
    tmp_path: Path,
    ann: tuple[str, Profile],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from moodlens.store import HistoryStore

    db, _ = ann
    store = HistoryStore(db)
    store.create_profile("bob", consent=True)
    store.close()
    out = tmp_path / "out"
    assert main(["batch", str(media / "obama.jpg"), "--out", str(out), *argv, "--db", db]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


#: The layout the first format wrote (before profiles): its faces columns and state fields.
OLD_FACE_COLUMNS = [
    "source", "item_key", "model", "frame_index", "timestamp_ms", "track_id", "x1", "y1", "x2", "y2",
    "score", "label", "confidence", "stable_label", "shown_label",
    *(f"p_{n}" for n in LABELS), *(f"s_{n}" for n in LABELS),
]  # fmt: skip


def _as_first_format(out: Path) -> None:
    import pyarrow.parquet as pq

    for path in (out / "faces").glob("*.parquet"):
        pq.write_table(pq.read_table(path).select(OLD_FACE_COLUMNS).replace_schema_metadata(None), path)
    for path in (out / "tracks").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["profile", "profile_frames"]), path)
    for path in (out / "_state").glob("*.json"):
        state = json.loads(path.read_text())
        del state["format"], state["profile"]
        path.write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("before", "now", "outcome"),
    [
        ("first format", None, "upgraded"),
        ("first format", "ann", "refused"),
        (None, None, "skipped"),
        ("ann", "ann", "skipped"),
        ("ann", "ann@2", "refused"),
        ("ann", None, "refused"),
        (None, "ann", "refused"),
    ],
)
def test_resuming_a_dataset_keeps_one_profile_choice_and_upgrades_the_first_format(
    before: str | None,
    now: str | None,
    outcome: str,
    *,
    media: Path,
    tmp_path: Path,
    ann: tuple[str, Profile],
) -> None:
    """A dataset written before the personal columns still resumes (its files gain them, null);
    a run whose --profile differs from the one the dataset's items were read with is refused
    before anything is written, with what to do."""
    _, profile = ann

    def settings(choice: str | None) -> AnalysisSettings:
        if choice is None or choice == "first format":
            return SETTINGS
        return dataclasses.replace(
            SETTINGS, profile=profile, profile_face=1 if choice.endswith("@2") else None
        )

    items, _ = expand([str(media / "obama.jpg"), str(media / "group3_outdoor.jpg")])
    out = tmp_path / "out"
    run_batch(items[:1], out, InProcessEngine(), settings(before))
    if before == "first format":
        _as_first_format(out)
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    if outcome == "refused":
        with pytest.raises(DatasetMismatchError) as refused:
            run_batch(items, out, InProcessEngine(), settings(now))
        said = "no --profile" if before in (None, "first format") else f"--profile {before}"
        assert said in str(refused.value) and "another --out" in str(refused.value)
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == written  # nothing written
        return
    report = run_batch(items, out, InProcessEngine(), settings(now))
    assert report.skipped_before == 1 and report.done == 1
    assert report.upgraded == (1 if outcome == "upgraded" else 0)
    faces = pd.read_parquet(out / "faces")  # one table, whichever file pyarrow reads first
    assert {"profile", "m_happy"} <= set(faces.columns) and len(faces) == 1 + len(
        SETTINGS.analyzer().analyze(read_image(media / "group3_outdoor.jpg")).faces
    )
    for path in (out / "faces").glob("*.parquet"):
        assert pa.parquet.read_schema(path).names == faces.columns.tolist()
    states = [json.loads(p.read_text()) for p in (out / "_state").glob("*.json")]
    assert all(s["format"] == 2 for s in states)


def test_a_profile_choice_typed_in_another_case_is_the_same_choice() -> None:
    """A dataset that recorded --profile kasumi resumes with --profile Kasumi (one profile in any
    case; datasets written before outputs used the stored name recorded what was typed)."""
    from moodlens.batch.dataset import same_profile_choice, settings_differ

    assert same_profile_choice("kasumi", "KASUMI@2".removesuffix("@2")) and same_profile_choice(None, None)
    assert same_profile_choice("Zoe\u0308", "zoë") and not same_profile_choice("ann", "ann@2")
    assert not same_profile_choice("ann", None) and not same_profile_choice("ann", "anna")
    assert settings_differ({"profile": "kasumi", "model": "m"}, {"profile": "Kasumi", "model": "m"}) == []
    assert settings_differ({"profile": "kasumi"}, {"profile": "kasumi@2"}) == ["profile"]


@pytest.mark.slow
def test_the_profile_reaches_ray_actors(
    media: Path, tmp_path: Path, ann: tuple[str, Profile], ray_engine: object
) -> None:
    """The fitted profile travels with the settings to Ray's actors: the same dataset as local."""
    _, profile = ann
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("obama_and_biden.jpg", "short_hamilton_clip.mp4"):
        shutil.copy(media / name, folder / name)
    items, _ = expand([str(folder)])
    settings = dataclasses.replace(SETTINGS, profile=profile, profile_face=1)
    local = run_batch(items, tmp_path / "local", LocalEngine(2), settings, segmenting=Segmenting(4, 1))
    distributed = run_batch(items, tmp_path / "ray", ray_engine, settings, segmenting=Segmenting(4, 1))  # type: ignore[arg-type]
    assert local.done == distributed.done == 2
    faces = _faces(tmp_path / "ray")
    assert faces.profile.notna().sum() > 1  # the photo's face 2 and the video's main track
    pd.testing.assert_frame_equal(_faces(tmp_path / "local"), faces)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"model": "fer2013"}, "model=crowd"),
        ({"detector": "haar"}, "detector=yunet"),
        ({"min_face": 40}, "min_face=20"),
        ({"smoothing_ms": 0.0}, "smoothing_ms=300.0"),
    ],
)
def test_a_dataset_holds_items_read_one_way(tmp_path: Path, change: dict, said: str) -> None:
    """A rerun into the same --out with another model, detector or smoothing is refused before
    anything is written (the items done before would keep their reading and the new ones would
    get another); the same settings named otherwise (--model crowd for the default) resume."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"p{i}.png"), np.full((60, 80, 3), 40 + 90 * i, np.uint8))
    items, _ = expand([str(folder)])
    out = tmp_path / "out"
    run_batch(items[:1], out, InProcessEngine(), SETTINGS)
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DatasetMismatchError) as refused:
        run_batch(items, out, InProcessEngine(), dataclasses.replace(SETTINGS, **change))
    message = str(refused.value)
    assert said in message and "p0.png" in message and "another --out" in message
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == written
    same = dataclasses.replace(SETTINGS, model="crowd", threads=2)  # threads change only the speed
    report = run_batch(items, out, InProcessEngine(), same)
    assert report.skipped_before == 1 and report.done == 1


def test_a_model_is_known_by_its_content_not_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same model by another path (relative, or a copy) resumes a dataset; the same path with
    another model in it (retrained, or recalibrated: its JSON changed) is refused, as another
    --model is, before anything is written."""
    from moodlens.classification.registry import model_path

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), np.full((60, 80, 3), 40 + 60 * i, np.uint8))
    items, _ = expand([str(folder)])
    shipped = model_path("crowd")
    for name in ("m", "copy"):
        shutil.copy(shipped, tmp_path / f"{name}.onnx")
        shutil.copy(shipped.with_suffix(".json"), tmp_path / f"{name}.json")
    out = tmp_path / "out"
    run_batch(
        items[:1], out, InProcessEngine(), dataclasses.replace(SETTINGS, model=str(tmp_path / "m.onnx"))
    )
    monkeypatch.chdir(tmp_path)
    report = run_batch(items[:2], out, InProcessEngine(), dataclasses.replace(SETTINGS, model="./copy.onnx"))
    assert report.skipped_before == 1 and report.done == 1
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["metrics"]["note"] = "recorded again"  # new figures in its JSON change no reading
    (tmp_path / "m.json").write_text(json.dumps(meta))
    report = run_batch(items[:2], out, InProcessEngine(), dataclasses.replace(SETTINGS, model="m.onnx"))
    assert report.skipped_before == 2
    meta["calibration"]["temperature"] *= 2  # a recalibrated copy reads every face differently
    (tmp_path / "m.json").write_text(json.dumps(meta))
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DatasetMismatchError, match=r"model_sha256=[0-9a-f]{12}\.\.\..*another --out"):
        run_batch(items, out, InProcessEngine(), dataclasses.replace(SETTINGS, model="m.onnx"))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == written


def test_a_saved_segment_of_another_model_is_read_again(tmp_path: Path) -> None:
    """A segment saved by a model whose file was then replaced in place (same settings, same
    fingerprint) is not reused; one of the same model is, and so is one saved before digests were
    recorded."""
    from moodlens.batch.dataset import Dataset
    from moodlens.batch.inputs import Item

    dataset = Dataset(tmp_path / "out")
    unit = Unit(Item("/v.mp4", "video", "k1"), segment=1, start_frame=10, end_frame=20, warmup_frame=8)
    result = UnitResult(unit, frames=12, model="crowd")
    dataset.save_segment(result, "f" * 16, "a" * 64)
    assert dataset.load_segment(unit, "f" * 16, "a" * 64) is not None
    assert dataset.load_segment(unit, "f" * 16, "b" * 64) is None
    assert dataset.load_segment(unit, "e" * 16, "a" * 64) is None
    dataset.save_segment(result, "f" * 16)  # as written before digests were recorded
    assert dataset.load_segment(unit, "f" * 16, "b" * 64) is not None


def test_saved_segments_keep_their_fingerprint() -> None:
    """A long video interrupted under an earlier version resumes from its saved segments: the
    fingerprint of the default settings is the one those versions wrote. (A new setting that
    shapes results changes it on purpose: the segments are then analysed again.)"""
    from moodlens.batch.dataset import settings_fingerprint

    assert settings_fingerprint(AnalysisSettings()) == "701c60c6baa6e47e"
    assert settings_fingerprint(dataclasses.replace(SETTINGS, threads=4)) == "701c60c6baa6e47e"
