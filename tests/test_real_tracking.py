"""The real-footage tracking benchmark (benchmarks/bench_real_tracking.py): its labels, its parts,
and the targets of the current tracker on the labelled clips.

The targets (docs/benchmarks.md): on every clip no predicted track holds two people and at most 1.2
tracks per person; IDF1 >= 0.90 on each of the two labelled videos. The clips need the media folder
(../shared/media or MOODLENS_MEDIA) and imageio-ffmpeg (the built clips); built clips and
detections are cached in $MOODLENS_BENCH_CACHE (default: the system's temporary folder)."""

from __future__ import annotations

from typing import Any

import pytest

import bench_real_tracking as bench
import label_faces
import real_tracking
from moodlens.results import Box
from real_tracking import LabelledFace, Labels, Recipe

SOURCES = real_tracking.SOURCES


def _labels(faces: list[list[LabelledFace]], shots: list[int] | None = None, **kw: Any) -> Labels:
    n = len(faces)
    return Labels(
        clip="t",
        sha256="",
        fps=25.0,
        width=640,
        height=480,
        shots=shots or [0],
        faces=faces,
        ignored=kw.get("ignored", [[] for _ in range(n)]),
        unsure=kw.get("unsure", [[] for _ in range(n)]),
        meta={},
    )


def _box(x: float, y: float = 100.0, side: float = 50.0) -> Box:
    return Box(x, y, x + side, y + side)


# --- the committed labels -------------------------------------------------------------------------


@pytest.mark.parametrize("clip", SOURCES)
def test_the_labels_are_complete_and_made_with_the_video_pipelines_detector(clip: str) -> None:
    labels = real_tracking.load_labels(clip)
    assert labels.frames > 0 and len(labels.sha256) == 64
    assert labels.people and labels.boxes > 0
    assert labels.meta["labelled_by"] and labels.meta["method"]
    # Labels made with another detector (or other settings, another model) would not be the faces
    # the pipeline sees: relabel with benchmarks/label_faces.py when the detector changes.
    assert labels.meta["detector"] == real_tracking.detector_spec(real_tracking.video_detector())


def test_the_singer_clip_has_its_four_shots_and_people_seen_in_two_of_them() -> None:
    labels = real_tracking.load_labels("short_hamilton_clip")
    assert labels.shots == [0, 20, 82, 211]
    shots_of = {
        p: {labels.shot_of(k) for k, f in enumerate(labels.faces) for x in f if x.person == p}
        for p in labels.people
    }
    assert shots_of[1] == {0, 2}  # the singer, before and after the pianist's close-up
    assert shots_of[2] == {0, 1}  # the pianist, at the piano and in close-up


# --- the labelling tool -------------------------------------------------------------------------------


def _faces(*frames: list[Box]) -> list[list[tuple[Box, bool]]]:
    return [[(b, False) for b in f] for f in frames]


@pytest.mark.parametrize(
    ("frames", "cuts", "expected"),
    [
        ([], [], []),
        ([[_box(0)], [_box(2)], [_box(4)]], [], [[0, 1, 2]]),
        # a cut ends every tracklet, even one that overlaps across it
        ([[_box(0)], [_box(2)], [_box(4)]], [2], [[0, 1], [2]]),
        # a face missed for a frame continues; missed for 2 it is a new tracklet
        ([[_box(0)], [], [_box(2)], [], [], [_box(3)]], [], [[0, 2], [5]]),
        # two faces side by side, overlapping: ambiguous, so no tracklet continues
        ([[_box(0), _box(30)], [_box(0), _box(30)]], [], [[0], [0], [1], [1]]),
        # a face walking at a third of its width a frame is followed
        ([[_box(0)], [_box(15)], [_box(30)], [_box(45)]], [], [[0, 1, 2, 3]]),
    ],
)
def test_tracklets_are_chained_conservatively(
    frames: list[list[Box]], cuts: list[int], expected: list[list[int]]
) -> None:
    tracklets = label_faces.chain(_faces(*frames), cuts)
    assert sorted(t.frames for t in tracklets) == sorted(expected)


def test_a_low_score_face_is_labelled_only_next_to_a_face_found_at_the_threshold() -> None:
    faces = [
        [(_box(0), False), (_box(300), True)],
        [(_box(2), True), (_box(302), True)],
    ]
    kept = label_faces.to_label(label_faces.chain(faces))
    assert [(t.frames, t.low) for t in kept] == [([0, 1], [False, True])]


def test_the_mapping_reads_people_splits_ignores_and_cuts() -> None:
    mapping = label_faces.parse_mapping(
        "cuts: 20 82\nperson 1: singer\nT1 = 1  # a note\nT2 = ignore\nT3 = 2\nT3 from 50 = 3\nT4 = unsure\n"
    )
    assert mapping.cuts == [20, 82] and mapping.notes == {1: "singer"}
    assert mapping.person(1, 0) == 1
    assert mapping.person(2, 5) == label_faces.IGNORE
    assert (mapping.person(3, 49), mapping.person(3, 50)) == (2, 3)
    assert mapping.person(4, 0) == label_faces.UNSURE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("T1 = 1\n", "cuts:"),
        ("cuts: none\nT1 from 5 = 2\n", "only 'from' lines"),
        ("cuts: none\nT1 is 2\n", "cannot read"),
    ],
)
def test_a_bad_mapping_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        label_faces.parse_mapping(text)


# --- built clips: their frames and labels ------------------------------------------------------------


def test_a_recipe_maps_built_frames_to_source_frames() -> None:
    assert Recipe("r", "s", ((2, 4), (9, 7)), "").frame_map() == [2, 3, 4, 9, 8, 7]


def test_built_labels_follow_the_frames_and_start_a_shot_at_each_jump() -> None:
    faces = [[LabelledFace(1 if k < 5 else 2, _box(k))] for k in range(10)]
    source = _labels(faces, shots=[0, 5])
    cutaway = source.mapped(Recipe("c", "t", ((0, 2), (6, 8), (3, 4)), ""))
    assert [f[0].box.x1 for f in cutaway.faces] == [0, 1, 2, 6, 7, 8, 3, 4]
    assert cutaway.shots == [0, 3, 6]
    back = source.mapped(Recipe("b", "t", ((0, 4), (3, 0)), ""))
    assert back.shots == [0]  # played backward: no cut
    across = source.mapped(Recipe("a", "t", ((3, 6),), ""))
    assert across.shots == [0, 2]  # the source's own cut


# --- scoring -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _motmetrics(request: pytest.FixtureRequest) -> None:
    if "score" in request.function.__name__ or "report" in request.fixturenames:
        pytest.importorskip("motmetrics", reason="the benchmark's scoring needs motmetrics ([dev] extra)")


def test_scoring_an_empty_clip() -> None:
    result = bench.score(_labels([[], []]), [[], []])
    assert result["merges"] == 0 and result["people"] == 0 and result["false_ids"] == 0


def test_a_track_that_holds_two_people_is_a_merge() -> None:
    faces = [[LabelledFace(1, _box(0))], [LabelledFace(1, _box(0))], [LabelledFace(2, _box(300))]]
    perfect = bench.score(_labels(faces), [[(1, _box(0))], [(1, _box(0))], [(2, _box(300))]])
    assert perfect["idf1"] == 1.0 and perfect["merges"] == 0 and perfect["tracks_per_person"] == 1.0
    merged = bench.score(_labels(faces), [[(1, _box(0))], [(1, _box(0))], [(1, _box(300))]])
    assert merged["merges"] == 1 and merged["merged_tracks"] == {"1": {"1": "0-1", "2": "2"}}


def test_identity_is_scored_within_a_shot_and_across_cuts() -> None:
    faces = [[LabelledFace(1, _box(0))] for _ in range(4)]
    hyps = [[(1, _box(0))], [(1, _box(0))], [(2, _box(0))], [(2, _box(0))]]
    result = bench.score(_labels(faces, shots=[0, 2]), hyps)
    assert result["idf1"] == 1.0 and result["tracks_per_person"] == 1.0  # a new id after a cut
    assert result["across_cuts"]["idf1"] == 0.5 and result["across_cuts"]["tracks_per_person"] == 2.0


def test_low_score_faces_count_when_reported_and_are_not_missed_otherwise() -> None:
    faces = [[LabelledFace(1, _box(0))], [LabelledFace(1, _box(2), low=True)]]
    silent = bench.score(_labels(faces), [[(1, _box(0))], []])
    assert silent["misses"] == 0 and silent["idf1"] == 1.0
    wrong = bench.score(_labels(faces), [[(1, _box(0))], [(2, _box(2))]])
    assert wrong["id_switches"] == 1


def test_two_boxes_of_one_head_score_once_and_an_unsure_face_not_at_all() -> None:
    faces = [[LabelledFace(1, _box(0)), LabelledFace(1, _box(0, y=160), low=True)]]
    assert bench.score(_labels(faces), [[(1, _box(0, y=160))]])["false_positives"] == 0
    unsure = _labels([[LabelledFace(1, _box(0))]], unsure=[[_box(200)]])
    result = bench.score(unsure, [[(1, _box(0)), (2, _box(200))]])
    assert result["false_positives"] == 0 and result["false_ids"] == 0


# --- the targets, on the real clips ----------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    media = real_tracking.media_dir()
    if media is None:
        pytest.skip(
            "the real tracking clips need pedestrians_1080p.mp4 and short_hamilton_clip.mp4: put "
            "../shared/media beside the checkout or set MOODLENS_MEDIA"
        )
    pytest.importorskip("imageio_ffmpeg", reason="the built clips need FFmpeg: pip install imageio-ffmpeg")
    current = [e for e in bench.ENTRIES if e.name in ("new", "linked")]
    return bench.evaluate(media, real_tracking.CLIPS, current, cache=real_tracking.CACHE)


def _result(report: dict[str, Any], clip: str, entry: str = "new") -> dict[str, Any]:
    result: dict[str, Any] = report["clips"][clip]["results"][entry]
    return result


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("clip", real_tracking.CLIPS)
def test_no_track_holds_two_people(report: dict[str, Any], clip: str) -> None:
    result = _result(report, clip)
    assert result["merges"] == 0, f"{clip}: tracks holding two people: {result['merged_tracks']}"


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("clip", real_tracking.CLIPS)
def test_a_person_keeps_one_track(report: dict[str, Any], clip: str) -> None:
    result = _result(report, clip)
    assert result["tracks_per_person"] <= 1.2, f"{clip}: ids per person: {result['tracks_of_person']}"


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("clip", SOURCES)
def test_identities_hold_on_the_labelled_videos(report: dict[str, Any], clip: str) -> None:
    result = _result(report, clip)
    assert result["idf1"] >= 0.90, (
        f"{clip}: IDF1 {result['idf1']:.3f}; ids per person: {result['tracks_of_person']}"
    )


#: Where --link-people does not reach the target yet, and why (an XPASS means it does now).
LINK_MISSES = {
    "short_hamilton_clip": "the pianist, 24 px wide at the piano in shot 1 and in full profile in "
    "the close-up of shot 2, stays two people: neither track has a face the linker embeds, and "
    "embedded anyway his tracks lie further apart (0.37) than his profile from another man (0.35)",
}


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize(
    "clip",
    [
        pytest.param(c, marks=pytest.mark.xfail(reason=LINK_MISSES[c], strict=True))
        if c in LINK_MISSES
        else c
        for c in real_tracking.CLIPS
    ],
)
def test_linked_people_hold_across_cuts_and_exits(report: dict[str, Any], clip: str) -> None:
    """--link-people: no person holds two labelled people, and each labelled person (across cuts,
    as the labels keep them) is at most 1.05 people of the linker's."""
    result = _result(report, clip, "linked")
    across = result["across_cuts"]
    assert across["tracks_per_person"] <= 1.05, f"{clip}: people per person: {result['tracks_of_person']}"


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("clip", real_tracking.CLIPS)
def test_linking_never_joins_two_people(report: dict[str, Any], clip: str) -> None:
    result = _result(report, clip, "linked")
    assert result["merges"] == 0, f"{clip}: people holding two people: {result['merged_tracks']}"
