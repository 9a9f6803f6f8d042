"""Frame-level and stream-level processing: the analyzer, tracking, smoothing, sources, sinks."""

from moodlens.pipeline.analyzer import Analyzer

__all__ = ["Analyzer"]
