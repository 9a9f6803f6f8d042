import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.data import apply_ferplus, load_dataset, read_fer2013_csv, read_image_folder
from moodlens.errors import DataError

PIXELS = " ".join(["128"] * 2304)


def _csv(path: Path, rows: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_reads_rows_and_splits(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "f.csv",
        [f"3,{PIXELS},Training", f"0,{PIXELS},PublicTest", f"6,{PIXELS},PrivateTest"],
    )
    data = read_fer2013_csv(path)
    assert len(data) == 3
    assert data.images.shape == (3, 48, 48)
    assert data.labels.tolist() == [3, 0, 6]
    assert len(data.split("PrivateTest")) == 1
    assert len(data.sha256) == 64


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    plain = _csv(tmp_path / "f.csv", [f"2,{PIXELS},Training"])
    packed = tmp_path / "f.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_fer2013_csv(packed).labels.tolist() == [2]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("3,1 2 3,Training", "expected 2304 pixel values, got 3"),
        (f"9,{PIXELS},Training", "emotion must be 0..6, got 9"),
        (f"x,{PIXELS},Training", "emotion must be an integer"),
        (f"3,{PIXELS.replace('128', 'abc', 1)},Training", "pixel values must be integers"),
        (f"3,{PIXELS.replace('128', '300', 1)},Training", "pixel values must lie in 0..255"),
        (f"3,{PIXELS},Elsewhere", "Usage must be one of"),
    ],
)
def test_bad_rows_name_their_line(tmp_path: Path, row: str, message: str) -> None:
    path = _csv(tmp_path / "bad.csv", [f"3,{PIXELS},Training", row])
    with pytest.raises(DataError, match=rf"bad\.csv: line 3 \(data row 1\): {message}"):
        read_fer2013_csv(path)
    data = read_fer2013_csv(path, skip_bad=True)
    assert len(data) == 1 and data.skipped == 1


def test_empty_and_malformed_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_fer2013_csv(empty)
    with pytest.raises(DataError, match="missing column"):
        read_fer2013_csv(_csv(tmp_path / "h.csv", ["1,2"], header="a,b"))
    with pytest.raises(DataError, match="no usable rows"):
        read_fer2013_csv(_csv(tmp_path / "only_header.csv", []))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "absent.csv")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"emotion,pixels,Usage\n" + b"3,1 2" * 1000)[:60])
    with pytest.raises(DataError, match="cannot read the CSV"):
        read_fer2013_csv(broken)


def test_missing_usage_column_means_training(tmp_path: Path) -> None:
    data = read_fer2013_csv(_csv(tmp_path / "f.csv", [f"1,{PIXELS}"], header="emotion,pixels"))
    assert data.splits.tolist() == ["Training"]
    with pytest.raises(DataError, match="split 'PublicTest' is empty"):
        data.split("PublicTest")


def test_image_folders_with_synonyms(tmp_path: Path) -> None:
    for split, cls in [
        ("train", "Happiness"),
        ("train", "angry"),
        ("test", "SURPRISED"),
        ("Validation", "sad"),
    ]:
        folder = tmp_path / split / cls
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / "1.png"), np.full((64, 64), 10, np.uint8))
    data = read_image_folder(tmp_path)
    assert sorted(data.labels.tolist()) == [0, 3, 4, 5]
    assert data.images.shape[1:] == (48, 48)
    assert set(data.splits.tolist()) == {"Training", "PublicTest", "PrivateTest"}
    assert load_dataset(tmp_path).sha256 == data.sha256


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected split folders"):
        read_image_folder(tmp_path)
    (tmp_path / "train" / "happy").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_image_folder(tmp_path)
    (tmp_path / "train" / "happy" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png: not a readable image"):
        read_image_folder(tmp_path)
    cv2.imwrite(str(tmp_path / "train" / "happy" / "ok.png"), np.zeros((48, 48), np.uint8))
    assert read_image_folder(tmp_path, skip_bad=True).skipped == 1
    (tmp_path / "train" / "contempt").mkdir()
    with pytest.raises(DataError, match="unknown expression 'contempt'"):
        read_image_folder(tmp_path)


def test_ferplus_majority_and_distribution(tmp_path: Path) -> None:
    fer = _csv(tmp_path / "f.csv", [f"0,{PIXELS},Training"] * 4)
    plus = tmp_path / "new.csv"
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    plus.write_text(
        "\n".join(
            [
                header,
                "Training,a.png,0,8,2,0,0,0,0,0,0,0",  # happy
                "Training,b.png,6,0,0,0,4,0,0,0,0,0",  # neutral, with some anger
                "Training,,0,0,0,0,0,0,0,0,0,10",  # not a face: dropped
                "Training,d.png,0,0,0,0,0,0,0,7,3,0",  # contempt: dropped
            ]
        )
        + "\n"
    )
    data = load_dataset(fer, ferplus=plus)
    assert data.labels.tolist() == [3, 6]
    assert data.rows.tolist() == [0, 1]
    assert data.skipped == 2
    soft = apply_ferplus(read_fer2013_csv(fer), plus, mode="distribution").soft_labels
    assert soft is not None
    assert soft[1].tolist() == pytest.approx([0.4, 0, 0, 0, 0, 0, 0.6])


@pytest.mark.data
def test_real_fer2013(fer_path: Path) -> None:
    data = load_dataset(fer_path)
    assert len(data) == 35887
    assert data.sha256 == "aee2206a1e4bdc0155d31e955aa5d747083ca7e0e89d2ba9a64ef431b3f9144a"
    counts = {s: len(data.split(s)) for s in ("Training", "PublicTest", "PrivateTest")}
    assert counts == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert data.split("Training").class_counts().tolist() == [
        3995,
        436,
        4097,
        7215,
        4830,
        3171,
        4965,
    ]
