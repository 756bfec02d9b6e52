"""JSON-ready values for the report (`plain`), and the line each section shows while its stage has not run
(`HOW_TO`): shared by the report's sections (curate.report.data, curate.report.training) and the out-of-core
engine (curate.outofcore.report)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

HOW_TO = {
    "geography": "run `curate filter` to measure distances from each label's centre",
    "duplicates": "run `curate filter` to find exact and near duplicates",
    "quality": "run `curate filter` to score the image-quality checks (blurry, dark, bright...)",
    "prefilter": "run `curate embed` then `curate prefilter --topic TOPIC` for the pre-classifier counts",
    "label_issues": "run `curate prefilter` (label issues on by default) to flag probable label errors",
    "splits": "run `curate split` to make train/val/test splits and check leakage",
    "training": "run `classify train` then `classify evaluate` to add the training section",
}


def plain(value):
    """NumPy / pandas scalars and arrays -> JSON-ready Python values (NaN/NA -> None)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value if isinstance(value, (str, int, bool)) else str(value)
