"""The inference-only install (``pip install moodlens``) works: every command that needs no extra
runs with the extras made unimportable, and those that need one say which, in one line, exit 2.

Each check runs in a subprocess whose import system refuses the extras' packages, as on a
machine where they were never installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import make_contract_model

#: Top-level packages that only the extras install ([train], [store], [postgres], [serve], [ray],
#: [batch], [dev]).
EXTRA_PACKAGES = (
    "torch",
    "onnx",
    "matplotlib",
    "sqlalchemy",
    "alembic",
    "platformdirs",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "multipart",
    "python_multipart",
    "fastapi_offline",
    "pyarrow",
    "ray",
    "PIL",
    "httpx",
    "selenium",
    "pytest",
)

_PRELUDE = f"""
import sys
BLOCKED = {EXTRA_PACKAGES!r}
class _NotInstalled:
    # Wraps each finder so that the extras' packages are found by none of them: imports fail with
    # ModuleNotFoundError and importlib.util.find_spec answers None, as where they are absent.
    def __init__(self, finder):
        self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        find = getattr(self.finder, "find_spec", None)
        return None if find is None else find(name, path, target)
    def invalidate_caches(self):
        if hasattr(self.finder, "invalidate_caches"):
            self.finder.invalidate_caches()
sys.meta_path[:] = [_NotInstalled(f) for f in sys.meta_path]
"""


def run_without_extras(
    code: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE + code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def moodlens_without_extras(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    code = f"from moodlens.cli.main import main\nsys.exit(main({list(argv)!r}))"
    return run_without_extras(code, cwd=cwd)


COMMANDS = (
    "image",
    "video",
    "camera",
    "train",
    "evaluate",
    "calibrate",
    "batch",
    "export",
    "history",
    "serve",
    "info",
)
INFERENCE_PACKAGES = (
    "moodlens",
    "moodlens.cli",
    "moodlens.classification",
    "moodlens.data",
    "moodlens.detection",
    "moodlens.evaluation",
    "moodlens.pipeline",
    "moodlens.render",
    "moodlens.training.catalog",
)


def test_the_blocker_blocks() -> None:
    result = run_without_extras("import sqlalchemy")
    assert result.returncode == 1
    assert "No module named 'sqlalchemy'" in result.stderr


def test_every_cli_module_and_inference_package_imports_without_extras() -> None:
    modules = [f"moodlens.cli.{name}" for name in (*COMMANDS, "main", "common")] + list(INFERENCE_PACKAGES)
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED))"
    result = run_without_extras(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command: str) -> None:
    result = moodlens_without_extras(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: moodlens " + command in result.stdout


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["train", "--data", "x.csv"], "train"),
        (["history", "list"], "store"),
        (["profile", "list"], "store"),
        (["profile", "create", "me", "--consent"], "store"),
        (["profile", "show", "me"], "store"),
        (["video", "{clip}", "--profile", "me"], "store"),
        (["serve"], "serve"),
        (["video", "{clip}", "--db", "--consent"], "store"),
        (["export", "{run}", "--out", "{tmp}/q.onnx", "--quantize", "--data", "x.csv"], "train"),
        (["batch", "{clip}", "--out", "{tmp}/b"], "batch"),
    ],
)
def test_a_command_that_needs_an_extra_says_which_in_one_line(
    argv: list[str], extra: str, tmp_path: Path, clip: Path, run_folder: Path
) -> None:
    args = [a.format(clip=clip, run=run_folder, tmp=tmp_path) for a in argv]
    result = moodlens_without_extras(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "pip install" in line]
    assert len(lines) == 1, result.stderr
    assert f"pip install 'moodlens[{extra}]'" in lines[0]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(12):
        writer.write(np.full((120, 160, 3), 40 + 10 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A finished run as the trainer leaves it: config.json and the exported model.onnx."""
    folder = tmp_path / "run"
    folder.mkdir()
    make_contract_model(folder / "model.onnx")
    (folder / "config.json").write_text(json.dumps({"config": {"network": "vgg_m"}}))
    return folder


def test_the_commands_that_need_no_extra(tmp_path: Path, clip: Path, run_folder: Path) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((80, 100, 3), 90, np.uint8))
    fer = tmp_path / "fer.csv"
    pixels = " ".join(["128"] * 2304)
    fer.write_text("emotion,pixels,Usage\n" + "".join(f"{i % 7},{pixels},PrivateTest\n" for i in range(14)))

    def ok(*argv: str) -> str:
        result = moodlens_without_extras(*argv, cwd=tmp_path)
        assert result.returncode == 0, f"{argv}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    assert "no face found" in ok("image", str(photo))
    ok("video", str(clip), "--out", str(tmp_path / "x.mp4"), "--timeline", str(tmp_path / "t.csv"))
    assert (tmp_path / "x.mp4").stat().st_size > 0 and (tmp_path / "t.csv").is_file()
    ok("camera", "--device", str(clip), "--no-window", "--summary", str(tmp_path / "s.json"))
    assert "accuracy" in ok(
        "evaluate", "--data", str(fer), "--split", "PrivateTest", "--out", str(tmp_path / "r")
    )
    assert "vgg_m" in ok("train", "--list-networks")
    assert "moodlens" in ok("info")
    assert json.loads(ok("info", "--json"))["extras"]["train"] is False
    ok("export", str(run_folder), "--out", str(tmp_path / "exported.onnx"))
    assert (tmp_path / "exported.onnx").is_file() and (tmp_path / "exported.json").is_file()
