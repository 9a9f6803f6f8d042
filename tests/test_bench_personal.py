"""The feedback-loop benchmark (benchmarks/bench_personal.py) on a small sample of JAFFE: two
people, end to end through the shipped detector and model. The full table is in
docs/personal-benchmark.md; JAFFE is never used to train, select or calibrate a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaffe import JAFFE

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def jaffe() -> Path:
    if not JAFFE.exists():
        pytest.skip(f"JAFFE not found at {JAFFE} (../shared/data/jaffe or MOODLENS_JAFFE)")
    return JAFFE


def test_the_loop_helps_each_person_of_a_small_sample(jaffe: Path, tmp_path: Path) -> None:
    import bench_personal

    out = tmp_path / "table.md"
    assert bench_personal.main(["--people", "2", "--markdown", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "people made worse than (a) in (c) or (d): none" in text
    rows = [line for line in text.splitlines() if line.startswith("| K")]
    assert len(rows) == 2
    for row in rows:
        a, b, c, d = (float(cell.strip().rstrip("%")) for cell in row.split("|")[3:7])
        assert b >= a and c > a and d > a, row


def test_without_jaffe_the_benchmark_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench_personal

    assert bench_personal.main(["--jaffe", str(tmp_path / "absent")]) == 2
    assert "JAFFE not found" in capsys.readouterr().err
