"""Readers for expression data sets: the FER2013 CSV, image folders and FERPlus labels.

Numpy only: evaluation of an ONNX model needs no torch.
"""

from moodlens.data.dataset import SPLITS, FaceDataset, load_dataset
from moodlens.data.fer2013 import read_fer2013_csv
from moodlens.data.ferplus import apply_ferplus, read_ferplus_votes
from moodlens.data.imagefolder import read_image_folder

__all__ = [
    "SPLITS",
    "FaceDataset",
    "apply_ferplus",
    "load_dataset",
    "read_fer2013_csv",
    "read_ferplus_votes",
    "read_image_folder",
]
