"""``moodlens profile`` and ``--profile``: every command, its errors (one line, exit 2, nothing
written) and the personal reading in image and video outputs. Real photos come from ../shared/media
(skipped without it); the error cases need none."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.cli.main import main

pytest.importorskip("sqlalchemy", reason="profiles live in the history store: pip install 'moodlens[store]'")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "profiles.sqlite3")


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((80, 80, 3), 127, np.uint8))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def samples(db: str, name: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    code, out, _ = run(capsys, "profile", "show", name, "--json", "--db", db)
    assert code == 0
    return list(json.loads(out)["samples"])


def test_create_list_show_delete_without_photos(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Reading a database that is not there creates none; neither does a refused create.
    code, _, err = run(capsys, "profile", "--db", db, "list")
    assert code == 2 and "no history database" in err and not Path(db).exists()
    code, _, err = run(capsys, "profile", "create", "ann", "--db", db)
    assert code == 2 and "--consent" in err and err.count("\n") == 1
    assert not Path(db).exists()
    code, out, _ = run(capsys, "profile", "create", "ann", "--consent", "--db", db)
    assert code == 0 and "created profile 'ann'" in out
    code, _, err = run(capsys, "profile", "create", "ann", "--consent", "--db", db)
    assert code == 2 and "exists" in err
    code, _, err = run(capsys, "profile", "create", "Ann", "--consent", "--db", db)  # any case
    assert code == 2 and "a profile named 'ann' exists" in err
    code, out, _ = run(capsys, "profile", "show", "ANN", "--db", db)
    assert code == 0 and "ann" in out
    code, out, _ = run(capsys, "profile", "--db", db, "list")  # --db before the action, too
    assert "ann" in out and "not set" in out
    code, out, _ = run(capsys, "profile", "show", "ann", "--db", db)
    assert code == 0 and "baseline not set" in out and "0 correction" in out
    exported = json.loads(run(capsys, "profile", "export", "ann", "--db", db)[1])
    assert exported["profile"]["name"] == "ann" if "profile" in exported else exported["name"] == "ann"
    assert run(capsys, "profile", "reset", "ann", "--yes", "--db", db)[0] == 0
    assert run(capsys, "profile", "delete", "ann", "--yes", "--db", db)[0] == 0
    assert run(capsys, "profile", "list", "--db", db)[1].startswith("no profiles")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "nobody"], "no profile named 'nobody'"),
        (["export", "nobody"], "no profile named 'nobody'"),
        (["delete", "nobody", "--yes"], "no profile named 'nobody'"),
        (["reset", "nobody", "--yes"], "no profile named 'nobody'"),
        (["remove", "ann", "999"], "999"),
        (["create", "bad@name", "--consent"], "@"),
        (["correct", "ann", "{blank}", "contempt"], "contempt"),
        (["correct", "ann", "{blank}", "happy"], "no face"),
        (["neutral", "ann", "{blank}"], "no face"),
        (["neutral", "ann"], "give photos"),
        (["neutral", "nobody", "{blank}"], "no profile named 'nobody'"),
        (["neutral", "ann", "{missing}"], "missing.png"),
        (["neutral", "ann", "--video", "{missing}", "--from", "0", "--to", "1"], "missing.png"),
        (
            ["neutral", "ann", "--video", "{blank}", "--from", "0", "--to", "1"],
            "no frame with exactly one face",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(
    argv: list[str],
    message: str,
    *,
    db: str,
    blank: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "profile", "create", "ann", "--consent", "--db", db)[0] == 0
    argv = [a.format(blank=blank, missing=tmp_path / "missing.png") for a in argv]
    code, _, err = run(capsys, "profile", *argv, "--db", db)
    assert code == 2, err
    assert message in err and err.count("\n") == 1, err
    assert samples(db, "ann", capsys) == []


def test_image_with_an_unknown_profile_or_no_baseline_is_exit_2(
    db: str, blank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "image", str(blank), "--profile", "nobody", "--db", db)
    assert code == 2 and "no history database" in err and not Path(db).exists()
    run(capsys, "profile", "create", "ann", "--consent", "--db", db)
    code, _, err = run(capsys, "image", str(blank), "--profile", "nobody", "--db", db)
    assert code == 2 and "no profile named 'nobody'" in err
    code, _, err = run(capsys, "image", str(blank), "--profile", "ann", "--db", db)
    assert code == 2 and "no baseline" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:  # argparse: usage and the reason, exit 2
        main(["image", str(blank), "--profile", "ann@0", "--db", db])
    assert exc.value.code == 2 and "face number" in capsys.readouterr().err


def test_baseline_and_corrections_change_the_reading_at_once_and_can_be_undone(
    media: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rest, smile, group = (
        media / "rose_leslie_neutral.jpg",
        media / "astronaut.png",
        media / "obama_and_biden.jpg",
    )
    run(capsys, "profile", "create", "ann", "--consent", "--db", db)
    code, _, err = run(capsys, "profile", "neutral", "ann", str(rest), str(group), "--db", db)
    assert code == 2 and "faces found" in err and samples(db, "ann", capsys) == []  # one bad photo: nothing
    code, out, _ = run(capsys, "profile", "neutral", "ann", str(rest), "--db", db)
    assert code == 0 and "added 1 neutral sample" in out and "mean of all 1" in out

    code, out, _ = run(capsys, "image", str(smile), "--json", "--profile", "ann", "--db", db)
    (face,) = json.loads(out)["faces"]
    assert face["profile"] == "ann" and face["model_label"] == "happy"
    assert set(face["model_probabilities"]) == set(face["probabilities"])
    before = face["label"]
    code, out, _ = run(capsys, "image", str(smile), "--json", "--profile", "ANN", "--db", db)
    assert json.loads(out)["faces"][0]["profile"] == "ann"  # the stored name, however it is typed

    # "This photo shows surprise": the same photo reads surprise at once.
    code, out, _ = run(capsys, "profile", "correct", "ann", str(smile), "surprise", "--db", db)
    assert code == 0 and "is surprise" in out
    code, out, _ = run(capsys, "image", str(smile), "--json", "--profile", "ann", "--db", db)
    assert json.loads(out)["faces"][0]["label"] == "surprise"

    # Removing that one correction undoes it; reset forgets the baseline too.
    (correction,) = [s for s in samples(db, "ann", capsys) if s["kind"] == "correction"]
    assert run(capsys, "profile", "remove", "ann", str(correction["id"]), "--db", db)[0] == 0
    code, out, _ = run(capsys, "image", str(smile), "--json", "--profile", "ann", "--db", db)
    assert json.loads(out)["faces"][0]["label"] == before
    assert run(capsys, "profile", "reset", "ann", "--yes", "--db", db)[0] == 0
    code, _, err = run(capsys, "image", str(smile), "--profile", "ann", "--db", db)
    assert code == 2 and "no baseline" in err


def test_several_faces_need_a_face_number(media: Path, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "profile", "create", "ann", "--consent", "--db", db)
    run(capsys, "profile", "neutral", "ann", str(media / "rose_leslie_neutral.jpg"), "--db", db)
    group = media / "obama_and_biden.jpg"
    code, out, err = run(capsys, "image", str(group), "--json", "--profile", "ann", "--db", db)
    assert code == 1 and "not applied" in err and "ann@1" in err
    assert "1 photo(s) kept the model's reading:" in err and "could not be processed" not in err
    record = json.loads(out)
    assert all("profile" not in f for f in record["faces"])  # never silently every face
    assert "not applied" in record["profile_error"]
    code, out, _ = run(capsys, "image", str(group), "--json", "--profile", "ann@2", "--db", db)
    faces = json.loads(out)["faces"]
    assert code == 0 and "profile" not in faces[0] and faces[1]["profile"] == "ann"


def test_csv_output_carries_both_readings(
    media: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    run(capsys, "profile", "create", "ann", "--consent", "--db", db)
    run(capsys, "profile", "neutral", "ann", str(media / "rose_leslie_neutral.jpg"), "--db", db)
    out_file = tmp_path / "out.csv"
    assert (
        run(
            capsys,
            "image",
            str(media / "astronaut.png"),
            "--profile",
            "ann",
            "--db",
            db,
            "--output",
            str(out_file),
        )[0]
        == 0
    )
    (row,) = list(csv.DictReader(out_file.open()))
    assert row["profile"] == "ann" and row["model_label"] == "happy" and float(row["model_p_happy"]) > 0.5


def test_a_baseline_from_a_stretch_of_video_or_a_camera(
    media: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = media / "short_hamilton_clip.mp4"
    run(capsys, "profile", "create", "singer", "--consent", "--db", db)
    code, _, err = run(
        capsys, "profile", "neutral", "singer", "--video", str(clip), "--from", "3", "--db", db
    )
    assert code == 2 and "--to" in err
    code, _, err = run(
        capsys, "profile", "neutral", "singer", "--video", str(clip), "--from", "3", "--to", "2", "--db", db
    )
    assert code == 2 and "after --from" in err
    code, out, _ = run(
        capsys, "profile", "neutral", "singer", "--video", str(clip), "--from", "0", "--to", "1.5", "--db", db
    )
    assert code == 0 and "added 1 neutral sample" in out and "frame(s)" in out
    # A camera is any source OpenCV opens: here the clip stands in for one.
    code, out, _ = run(
        capsys, "profile", "neutral", "singer", "--camera", str(clip), "--seconds", "1", "--db", db
    )
    assert code == 0 and "mean of all 2" in out
    (first, second) = samples(db, "singer", capsys)
    assert first["source"].startswith("video:short_hamilton_clip.mp4 0-1.5 s") and second[
        "source"
    ].startswith("camera")
    # A stretch past the clip's end (its last frame at 9.1 s) is said as such, and a stretch
    # that runs past it is recorded as the seconds there were.
    code, _, err = run(
        capsys, "profile", "neutral", "singer", "--video", str(clip), "--from", "50", "--to", "60", "--db", db
    )
    assert code == 2 and "the video's last frame is at 9.1 s, before --from 50" in err
    code, out, _ = run(
        capsys,
        "profile",
        "neutral",
        "singer",
        "--video",
        str(clip),
        "--from",
        "8.5",
        "--to",
        "100",
        "--db",
        db,
    )
    assert code == 0
    assert samples(db, "singer", capsys)[-1]["source"].startswith(
        "video:short_hamilton_clip.mp4 8.5-9.1 s (the video's last frame is at 9.1 s)"
    )


def test_video_reads_the_main_track_through_the_profile_and_the_timeline_says_so(
    media: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    clip = media / "short_hamilton_clip.mp4"
    run(capsys, "profile", "create", "singer", "--consent", "--db", db)
    run(
        capsys, "profile", "neutral", "singer", "--video", str(clip), "--from", "0", "--to", "1.5", "--db", db
    )
    timeline = tmp_path / "timeline.csv"
    # Without --db (which would also record) the profile comes from $MOODLENS_DB or the default.
    monkeypatch.setenv("MOODLENS_DB", str(tmp_path / "elsewhere.sqlite3"))
    code, _, err = run(capsys, "video", str(clip), "--profile", "singer", "--timeline", str(timeline))
    assert code == 2 and "no history database" in err
    monkeypatch.setenv("MOODLENS_DB", db)
    code, _, err = run(capsys, "video", str(clip), "--profile", "singer", "--timeline", str(timeline))
    assert code == 0, err
    rows = list(csv.DictReader(timeline.open()))
    personal = [r for r in rows if r["profile"]]
    assert personal and all(r["profile"] == "singer" and r["m_neutral"] for r in personal)
    assert all(not r["m_neutral"] for r in rows if not r["profile"])
    # Never every face: in a frame, at most one face is read through the profile.
    per_frame: dict[str, int] = {}
    for r in personal:
        per_frame[r["frame_index"]] = per_frame.get(r["frame_index"], 0) + 1
    assert max(per_frame.values()) == 1


def test_delete_and_reset_ask_on_a_terminal_and_refuse_without_one(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins
    import sys

    assert run(capsys, "profile", "create", "ann", "--consent", "--db", db)[0] == 0
    # No terminal and no --yes: nothing is assumed (exit 2, one line, the profile kept).
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    for verb in ("delete", "reset"):
        code, _, err = run(capsys, "profile", verb, "ann", "--db", db)
        assert (
            code == 2
            and err.strip() == f"moodlens profile {verb}: error: pass --yes to confirm (no terminal to ask)"
        )
    # On a terminal: the question names the profile and the database; anything but y/yes declines.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    asked: list[str] = []
    answers = iter(["", "n", "YES"])
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or next(answers))
    code, out, _ = run(capsys, "profile", "delete", "ann", "--db", db)
    assert code == 1 and out.strip() == "nothing changed"
    code, out, _ = run(capsys, "profile", "reset", "ann", "--db", db)
    assert code == 1 and out.strip() == "nothing changed"
    assert run(capsys, "profile", "show", "ann", "--db", db)[0] == 0
    code, out, _ = run(capsys, "profile", "delete", "ann", "--db", db)
    assert code == 0 and "deleted profile 'ann'" in out
    assert asked[0].startswith("delete profile 'ann' and everything derived from it in ") and asked[
        0
    ].endswith("? [y/N] ")
    assert (
        len(asked) == 3
        and "profiles.sqlite3" in asked[0]
        and asked[1].startswith("forget the baseline and corrections of 'ann'")
    )
    assert run(capsys, "profile", "show", "ann", "--db", db)[0] == 2
