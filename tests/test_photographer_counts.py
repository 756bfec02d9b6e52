"""One rule for counting photographers, in every table and on both catalog engines: a photographer is
a distinct known owner_id; a photo without an owner is counted apart (`no_owner`), never as a
photographer and never named as a label's top one (an audit of a long-tailed folder saw one label's
photos credited to 19, 16, 10 and 6 owners in four places, and "(unknown owner)" as fruit's top
photographer)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from curate import schema
from curate.filters.stage import FilterConfig, filter_catalog
from curate.outofcore.db import connect
from curate.outofcore.filter import filter_duckdb
from curate.outofcore.split import split_duckdb
from curate.report.data import build_report
from curate.split import SplitConfig, split_catalog
from curate.workspace import Workspace, write_catalog
from tests.test_outofcore import on_disk, run_query
from tests.test_outofcore_report import duckdb_report

# per label: (owner or None, photos); `few` has more owner-less photos than its one photographer took,
# `nobody` none with an owner at all
PLAN = {"many": [("x", 9), ("y", 4), ("z", 3), ("w", 2), (None, 4)],
        "few": [("v", 2), (None, 5)],
        "nobody": [(None, 6)]}


def plan_catalog(plan: dict = PLAN, prefix: str = "p", step: pd.Timedelta = pd.Timedelta(days=1)) -> pd.DataFrame:
    """A kept photo per (label, owner) count of `plan`, ids `<prefix>000`…, taken `step` apart."""
    rows = [{"label": label, "owner_id": owner} for label, owners in plan.items() for owner, n in owners
            for _ in range(n)]
    frame = pd.DataFrame([{"photo_id": f"{prefix}{i:03d}", "source": "s", "source_id": str(i), "status": "kept",
                           "taken_at": pd.Timestamp("2020-01-01") + step * i, **row}
                          for i, row in enumerate(rows)])
    return schema.to_pandas(schema.conform(frame))


def truth(catalog: pd.DataFrame) -> pd.DataFrame:
    """Photographers and owner-less photos per label, counted here from the plan's catalog."""
    return pd.DataFrame({"owners": catalog.groupby("label")["owner_id"].nunique(),
                         "no_owner": catalog["owner_id"].isna().groupby(catalog["label"]).sum()})


def test_every_table_counts_photographers_one_way_on_both_engines(tmp_path):
    catalog = plan_catalog()
    expected = truth(catalog)
    _, report = filter_catalog(catalog, FilterConfig())
    with connect(tmp_path) as con:
        _, got_report = filter_duckdb(con, on_disk(catalog, tmp_path), FilterConfig())
    for table in (report.concentration, got_report.concentration):
        table = table.set_index("label")
        assert table["owners"].to_dict() == expected["owners"].to_dict()
        assert table["no_owner"].to_dict() == expected["no_owner"].to_dict()
        # the top photographer is a known one, even where owner-less photos outnumber them
        assert table.loc["few", "top_owner"] == "v" and table.loc["nobody", "top_owner"] is None
        assert table.loc["few", "top_owner_share"] == 2 / 7
        assert (table["effective_owners"].dropna() <= table["owners"][table["owners"] > 0]).all()

    split, split_report = split_catalog(catalog, SplitConfig(val=0.2, test=0.2))
    with connect(tmp_path) as con:
        query, got_split = split_duckdb(con, on_disk(catalog, tmp_path), SplitConfig(val=0.2, test=0.2))
        assert run_query(con, query)["split"].tolist() == split["split"].tolist()
    for table in (split_report.per_label, got_split.per_label):
        table = table.set_index("label")
        assert table["no_owner"].to_dict() == expected["no_owner"].to_dict()
        for name in ("train", "val", "test"):
            part = split[split["split"] == name]
            owners = part.groupby("label")["owner_id"].nunique().reindex(table.index, fill_value=0)
            assert table[f"{name}_owners"].to_dict() == owners.to_dict()

    ws = Workspace(Path(tempfile.mkdtemp(dir=tmp_path)))
    write_catalog(ws, split)
    reports = {"split": {"config": {"by": "owner", "seed": 0}}}
    for built in (build_report(split, reports), duckdb_report(ws.catalog_path, tmp_path, reports)):
        sections = built["sections"]
        people = {entry["label"]: entry for entry in sections["photographers"]["labels"]}
        assert {label: entry["owners"] for label, entry in people.items()} == expected["owners"].to_dict()
        assert {label: entry["no_owner"] for label, entry in people.items()} == expected["no_owner"].to_dict()
        assert people["few"]["top_owner"] == "v" and people["nobody"]["top_owner"] is None
        assert not people["nobody"]["top_owners"] and people["nobody"]["effective_owners"] is None
        assert all(o["owner_id"] is not None and "owner)" not in o["owner_id"]
                   for entry in people.values() for o in entry["top_owners"])
        # the report's Splits section and the split's own table agree cell by cell
        rows = {row["label"]: row for row in sections["splits"]["per_label"]}
        for row in split_report.per_label.itertuples():
            assert rows[row.label]["no_owner"] == row.no_owner
            assert [rows[row.label][f"{name}_owners"] for name in ("train", "val", "test")] == \
                [row.train_owners, row.val_owners, row.test_owners]


def dog_catalog() -> pd.DataFrame:
    """The long-tail audit's shape: large labels whose top owners hold 20 photos each (a third), and a
    15-photo `dog` two thirds of which is one photographer's; `tiny` is 4 of 5 one photographer's."""
    plan = {name: [(f"{name}{k}", n) for k, n in enumerate([20, 12, 10, 8, 6, 4])] for name in ("coast", "forest",
                                                                                                 "highway")}
    plan["dog"] = [("dogfan", 10), ("pet1", 2), ("pet2", 2), (None, 1)]
    plan["tiny"] = [("one", 4), ("two", 1)]
    return plan_catalog(plan, prefix="d", step=pd.Timedelta(hours=1))


def test_a_label_mostly_one_photographers_is_named_on_both_engines(tmp_path):
    """The alarm compares top owners' photo counts across labels, so it never sees a small label that is
    one person's; a share-within-label check names it, with the fix, in the filter's notes and the
    report, and not once --max-owner-share has capped it."""
    catalog = dog_catalog()
    _, report = filter_catalog(catalog, FilterConfig())
    with connect(tmp_path) as con:
        _, got_report = filter_duckdb(con, on_disk(catalog, tmp_path), FilterConfig())
    assert got_report.notes == report.notes
    named = [note for note in report.notes if "mostly one photographer" in note]
    assert len(named) == 1 and "dog" in named[0] and "dogfan" in named[0] and "--force-caps" in named[0]
    assert not any(name in named[0] for name in ("coast", "forest", "highway", "tiny"))

    capped, capped_report = filter_catalog(catalog, FilterConfig(max_owner_share=0.5))
    with connect(tmp_path) as con:
        _, got_capped = filter_duckdb(con, on_disk(catalog, tmp_path), FilterConfig(max_owner_share=0.5))
    assert got_capped.notes == capped_report.notes
    assert not any("mostly one photographer" in note for note in capped_report.notes)

    ws = Workspace(Path(tempfile.mkdtemp(dir=tmp_path)))
    write_catalog(ws, catalog)
    for built in (build_report(catalog, {}), duckdb_report(ws.catalog_path, tmp_path, {})):
        section = built["sections"]["photographers"]
        people = {entry["label"]: entry for entry in section["labels"]}
        assert not people["dog"]["alarm"]  # what the audit saw: the count rule cannot see it
        assert [label for label, entry in people.items() if entry["dominated"]] == ["dog"]
        assert len(section["warnings"]) == 1 and "dog" in section["warnings"][0]
        assert "--force-caps" in section["warnings"][0]
    assert build_report(catalog, {})["sections"]["photographers"] == \
        duckdb_report(ws.catalog_path, tmp_path, {})["sections"]["photographers"]
