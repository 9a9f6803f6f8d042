"""``moodlens batch``: archives of photos and videos into a Parquet dataset, on this machine's
cores or on a Ray cluster. Needs the ``[batch]`` extra (pyarrow), and ``[ray]`` for Ray."""

from moodlens.batch.analysis import AnalysisSettings, Unit, UnitResult, analyze_unit
from moodlens.batch.dataset import DatasetMismatchError, OutputFolderError, check_folder
from moodlens.batch.engines import EngineError, LocalEngine, RayEngine
from moodlens.batch.inputs import Item, expand
from moodlens.batch.runner import Progress, Report, Segmenting, plan, run_batch

__all__ = [
    "AnalysisSettings",
    "DatasetMismatchError",
    "EngineError",
    "Item",
    "LocalEngine",
    "OutputFolderError",
    "Progress",
    "RayEngine",
    "Report",
    "Segmenting",
    "Unit",
    "UnitResult",
    "analyze_unit",
    "check_folder",
    "expand",
    "plan",
    "run_batch",
]
