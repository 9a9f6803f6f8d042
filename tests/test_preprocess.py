import numpy as np
import pytest

from moodlens.classification.metadata import CropSpec
from moodlens.classification.preprocess import FER_TEMPLATE, crop_faces, face_transform, similarity
from moodlens.results import Box, Detection


def test_no_detections_give_an_empty_batch() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    assert crop_faces(image, [], (48, 48)).shape == (0, 48, 48)
    assert crop_faces(image, [], (64, 64), colour="bgr").shape == (0, 64, 64, 3)


def test_similarity_recovers_a_known_transform() -> None:
    src = np.array([[10, 10], [50, 12], [30, 40], [15, 60], [45, 61]], dtype=float)
    angle = np.radians(20)
    rot = 1.7 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + [5, -3]
    matrix = similarity(src, dst)
    assert np.allclose(matrix[:, :2], rot, atol=1e-9)
    assert np.allclose(matrix[:, 2], [5, -3], atol=1e-9)


def test_landmarks_on_the_template_map_to_it() -> None:
    landmarks = FER_TEMPLATE * 200 + [100, 50]
    det = Detection(Box(100, 50, 300, 250), 0.9, landmarks)
    matrix = face_transform(det, CropSpec(), (48, 48))
    mapped = np.hstack([landmarks, np.ones((5, 1))]) @ matrix.T
    assert np.allclose(mapped, FER_TEMPLATE * 48, atol=1e-6)


def test_tilted_face_is_rotated_upright() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    centre = np.array([200.0, 200.0])
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = ((FER_TEMPLATE - 0.5) * 160) @ rot.T + centre
    for x, y in landmarks[:2]:
        image[int(y) - 3 : int(y) + 4, int(x) - 3 : int(x) + 4] = 255  # bright "eyes"
    det = Detection(Box(110, 110, 290, 290), 0.9, landmarks)
    crop = crop_faces(image, [det], (48, 48))[0]
    eye_row = round(FER_TEMPLATE[0, 1] * 48)
    left = crop[
        eye_row - 2 : eye_row + 3,
        round(FER_TEMPLATE[0, 0] * 48) - 2 : round(FER_TEMPLATE[0, 0] * 48) + 3,
    ]
    right = crop[
        eye_row - 2 : eye_row + 3,
        round(FER_TEMPLATE[1, 0] * 48) - 2 : round(FER_TEMPLATE[1, 0] * 48) + 3,
    ]
    assert left.max() > 150 and right.max() > 150


def test_box_only_crop_is_centred_on_the_box() -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    image[100:200, 100:200] = 255
    det = Detection(Box(100, 100, 200, 200), 0.9)
    crop = crop_faces(image, [det], (48, 48), spec=CropSpec(align=False))[0]
    assert crop[24, 24] == 255
    assert crop[:, :2].mean() > 200 and crop[:, -2:].mean() > 200  # the box fills the width


def test_scale_zooms_out() -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    image[100:200, 100:200] = 255
    det = Detection(Box(100, 100, 200, 200), 0.9)
    crop = crop_faces(image, [det], (48, 48), spec=CropSpec(scale=2.0, align=False))[0]
    assert crop[24, 24] == 255 and crop[2, 2] == 0


def test_large_faces_are_antialiased_and_edges_replicated() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 2, (2000, 2000, 3), dtype=np.uint8) * 255  # pixel noise
    det = Detection(Box(-200, 500, 1300, 2000), 0.9)  # beyond the border
    crop = crop_faces(image, [det], (48, 48), spec=CropSpec(align=False))[0]
    # Averaging over ~30x30 noise pixels per output pixel gives mid-gray, not salt and pepper.
    assert 100 < crop.mean() < 155
    assert crop.std() < 40


@pytest.mark.parametrize("colour", ["gray", "bgr", "rgb"])
def test_colour_modes(colour: str) -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[..., 2] = 200  # red
    det = Detection(Box(20, 20, 80, 80), 0.9)
    crop = crop_faces(image, [det], (32, 32), colour=colour)
    if colour == "gray":
        assert crop.shape == (1, 32, 32)
    elif colour == "bgr":
        assert crop[0, 16, 16].tolist() == [0, 0, 200]
    else:
        assert crop[0, 16, 16].tolist() == [200, 0, 0]
