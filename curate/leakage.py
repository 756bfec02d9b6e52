"""Leakage checks: is any photographer, near-duplicate cluster or image on two sides?

`find_leakage(catalog)` is cheap (a few group-bys over the split photos) so that
`classify train` can call it every time, and `assert_no_leakage(catalog)` lets users put
the same check in their own test suites::

    from curate.leakage import assert_no_leakage
    def test_my_split_is_clean():
        assert_no_leakage(read_catalog(resolve_workspace("workspace")))
"""

from __future__ import annotations

import pandas as pd

from curate import schema

LEAK_KINDS = {"owner": "owner_id", "near_dup_cluster": "near_dup_cluster", "exact_hash": "sha256"}
COLUMNS = ["kind", "key", "splits", "photos", "photos_per_split"]


def find_leakage(catalog: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """One row per owner / near-dup cluster / exact hash (and `by` value) found in 2+ splits.

    Columns: kind, key, splits ("test,train"), photos, photos_per_split ({"train": 3, ...}).
    Only kept photos with a split are looked at.
    """
    split = catalog[(catalog["status"] == schema.KEPT) & catalog["split"].notna()]
    kinds = dict(LEAK_KINDS)
    if by and by not in ("owner", "none"):
        kinds[by] = by
    found = []
    for kind, column in kinds.items():
        pairs = split[[column, "split"]].dropna()
        spread = pairs.groupby(column)["split"].nunique()
        leaky = spread[spread > 1].index
        if len(leaky) == 0:
            continue
        counts = pairs[pairs[column].isin(leaky)].groupby([column, "split"]).size()
        for key, per_split in counts.groupby(level=0):
            per_split = per_split.droplevel(0).to_dict()
            found.append({"kind": kind, "key": str(key), "splits": ",".join(sorted(per_split)),
                          "photos": int(sum(per_split.values())), "photos_per_split": per_split})
    return pd.DataFrame(found, columns=COLUMNS)


def assert_no_leakage(catalog: pd.DataFrame, by: str | None = None) -> None:
    """Raise AssertionError listing the leaks, if any (pytest-friendly)."""
    leaks = find_leakage(catalog, by)
    if len(leaks):
        summary = leaks.groupby("kind").size().to_dict()
        examples = "; ".join(f"{r.kind} {r.key} in {r.splits}" for r in leaks.head(5).itertuples())
        raise AssertionError(f"split leaks across train/val/test: {summary} (e.g. {examples})")
