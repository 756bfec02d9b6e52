from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from curate import schema
from curate.errors import DataContractError
from curate.workspace import Workspace, read_catalog, write_catalog

REQUIRED = ["photo_id", "source", "source_id", "owner_id", "owner_name", "title", "tags", "label", "lat", "lon",
            "taken_at", "license", "url", "sha256", "width", "height", "image_path", "status", "drop_reason",
            "drop_stage", "split"]


def sample_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "photo_id": ["demo:1", "demo:2"],
        "source": ["demo", "demo"],
        "source_id": ["1", "2"],
        "owner_id": ["o1", None],
        "tags": [["chicago", "skyline"], []],
        "label": ["chicago", None],
        "lat": [41.85, np.nan],
        "lon": [-87.65, np.nan],
        "taken_at": pd.to_datetime(["2008-08-12 12:01:24", None]),
        "width": [640, None],
        "status": ["kept", "dropped"],
        "drop_reason": [None, "truncated_image"],
    })


def test_required_columns_declared_with_issue_names():
    assert set(REQUIRED) <= set(schema.NAMES)
    assert pa.types.is_list(schema.COLUMN_BY_NAME["tags"].type)
    assert schema.COLUMN_BY_NAME["lat"].type == pa.float64()
    assert not schema.COLUMN_BY_NAME["photo_id"].nullable


def test_round_trip_keeps_values_and_types(tmp_path):
    ws = Workspace(tmp_path)
    write_catalog(ws, sample_rows())
    back = read_catalog(ws)
    assert list(back.columns) == list(schema.NAMES)
    assert back["photo_id"].tolist() == ["demo:1", "demo:2"]
    assert list(back.loc[0, "tags"]) == ["chicago", "skyline"] and list(back.loc[1, "tags"]) == []
    assert back.loc[0, "lat"] == pytest.approx(41.85) and pd.isna(back.loc[1, "lat"])
    assert back["width"].dtype == pd.Int32Dtype() and back.loc[0, "width"] == 640 and pd.isna(back.loc[1, "width"])
    assert back.loc[0, "taken_at"] == pd.Timestamp("2008-08-12 12:01:24")
    assert pd.isna(back.loc[0, "split"]) and list(back.loc[0, "tag_labels"]) == []
    # a second round trip changes nothing
    write_catalog(ws, back)
    pd.testing.assert_frame_equal(read_catalog(ws), back)


def test_contract_violations_are_refused():
    rows = sample_rows()
    with pytest.raises(DataContractError, match="does not know"):
        schema.conform(rows.assign(made_up=1))
    with pytest.raises(DataContractError, match="repeated photo_id"):
        schema.conform(rows.assign(photo_id=["demo:1", "demo:1"]))
    with pytest.raises(DataContractError, match="status"):
        schema.conform(rows.assign(status=["kept", "deleted"]))
    with pytest.raises(DataContractError, match="must not be null"):
        schema.conform(rows.assign(source=["demo", None]))


def test_readme_documents_the_declared_schema():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "workspace.md").read_text(encoding="utf-8")
    assert schema.markdown_table() in readme, ("docs/workspace.md schema table is out of date: "
                                               "paste schema.markdown_table()")
