import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.cli.main import main


def _photo(path: Path, value: int = 120) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((60, 80, 3), value, np.uint8))
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("moodlens ")


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "image" in out and "train" in out and "apparent expression" in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_photo_without_faces_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "blank.jpg")
    assert main(["image", str(photo)]) == 0
    assert "no face found" in capsys.readouterr().out


def test_json_output_one_object_per_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.png", 30)
    assert main(["image", str(a), str(b), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["file"]).name for r in lines] == ["a.png", "b.png"]
    assert all(r["faces"] == [] for r in lines)


def test_batch_goes_past_bad_files_and_reports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "good.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("hello")
    out_file = tmp_path / "results.csv"
    code = main(["image", str(folder), "--output", str(out_file), "--out", str(tmp_path / "annotated")])
    assert code == 1
    err = capsys.readouterr().err
    assert "2 input(s) could not be processed" in err
    assert "empty.jpg: the file is empty" in err
    assert "text.png: cannot decode" in err
    rows = list(csv.DictReader(out_file.open()))
    assert {Path(r["file"]).name for r in rows} == {"good.jpg", "empty.jpg", "text.png"}
    assert [r["error"] for r in rows if r["file"].endswith("good.jpg")] == [""]
    errors = {Path(r["file"]).name: r["error"] for r in rows if r["error"]}
    assert "the file is empty" in errors["empty.jpg"] and "cannot decode" in errors["text.png"]
    assert all(r["profile"] == "" for r in rows)  # the error sits under its own heading
    width = len(next(csv.reader(out_file.open())))
    assert {len(row) for row in csv.reader(out_file.open())} == {width}  # every row as wide as the header
    assert (tmp_path / "annotated" / "good_moodlens.jpg").is_file()


def test_annotated_copies_of_photos_with_one_name_are_each_kept(tmp_path: Path) -> None:
    """Two folders' x.jpg and an x.bmp and x.webp (both drawn as PNG): every photo gets its own
    annotated copy, in the order given (_2 after the first), none overwritten."""
    photos = [
        _photo(tmp_path / "a" / "x.jpg"),
        _photo(tmp_path / "b" / "x.jpg", 30),
        _photo(tmp_path / "a" / "y.bmp"),
        _photo(tmp_path / "b" / "Y.webp", 30),
    ]
    out = tmp_path / "drawn"
    assert main(["image", *map(str, photos), "--out", str(out)]) == 0
    made = sorted(p.name for p in out.iterdir())
    assert made == ["Y_moodlens_2.png", "x_moodlens.jpg", "x_moodlens_2.jpg", "y_moodlens.png"]
    # The second copy is the second photo's (another picture), not the first one written twice.
    assert (out / "x_moodlens.jpg").read_bytes() != (out / "x_moodlens_2.jpg").read_bytes()


def test_missing_file_and_empty_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["image", str(tmp_path / "absent.jpg"), str(tmp_path / "*.nothing")])
    assert code == 1
    err = capsys.readouterr().err
    assert "absent.jpg: no such file" in err
    assert "the pattern matches no file" in err


def test_jsonl_output_and_single_annotated_file(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.jpg")
    out = tmp_path / "drawn.jpg"
    results = tmp_path / "r.jsonl"
    assert main(["image", str(photo), "--out", str(out), "--output", str(results)]) == 0
    assert cv2.imread(str(out)).shape == (60, 80, 3)
    assert json.loads(results.read_text())["faces"] == []


def test_bad_output_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", str(_photo(tmp_path / "p.jpg")), "--output", str(tmp_path / "r.txt")]) == 2
    assert "must end in .jsonl or .csv" in capsys.readouterr().err


def test_bad_threshold_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["image", str(_photo(tmp_path / "p.jpg")), "--threshold", "3"])
    assert exc.value.code == 2
    assert "argument --threshold: 3 is out of range: expected 0 to 1" in capsys.readouterr().err


def test_real_photo_prints_one_line_per_face(
    media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "group.jpg"
    assert main(["image", str(media / "group3_outdoor.jpg"), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all("apparent" in line or "uncertain" in line for line in lines)
    assert out.is_file()


def test_info_reports_models_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["detector"].startswith("yunet: ")
    assert all(model["bytes"] > 0 for model in info["models"].values())
    assert sum(model["default"] for model in info["models"].values()) == 1
    assert set(info["data"]) == {"MOODLENS_FER2013", "MOODLENS_FERPLUS", "MOODLENS_MEDIA"}
    assert set(info["extras"]) == {"train", "store", "postgres", "serve"}


def test_a_batch_in_a_terminal_prints_every_file_above_the_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a progress bar (stderr is a terminal), the per-file results still reach stdout."""
    import sys

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _photo(folder / name)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["image", str(folder), "--out", str(tmp_path / "drawn")]) == 0
    captured = capsys.readouterr()
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [
        str(folder / n) for n in ("a.jpg", "b.jpg", "c.jpg")
    ]
    assert f"annotated copies: {tmp_path / 'drawn'}" in captured.err


def test_info_as_text_names_models_extras_and_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "models (--model NAME):" in out and "(default)" in out
    assert "extras:" in out and "test photos and videos:" in out
    assert "{" not in out  # readable text, not a dumped dict
