"""Freshness fingerprints of a large catalog kept on disk between commands (curate.fingerprint_cache): reused
while the catalog file is the one they were computed on, never once it has been written again."""

from __future__ import annotations

import json
import os

import pytest
from helpers import demo_workspace, some_slow

from curate import fingerprint_cache, fingerprints, freshness
from curate.catalog_batches import CatalogFile
from curate.freshness import judge
from curate.freshness_workspace import load_reports
from curate.workspace import Workspace, read_catalog, write_catalog


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A small demo workspace, filtered and split."""
    return demo_workspace(tmp_path_factory.mktemp("fpcache") / "ws", photos=60, seed=3).root


@pytest.fixture
def counted_ws(curated, tmp_path, monkeypatch):
    """A private copy, with the on-disk cache used from the first row (it is kept for large catalogs only) and
    the fingerprint computations counted: (workspace, calls)."""
    import shutil

    shutil.copytree(curated, tmp_path / "ws")
    monkeypatch.setattr(fingerprint_cache, "MIN_ROWS", 0)
    calls = []
    compute = fingerprints.sorted_digest_bounded

    def counted(*args, **kwargs):
        calls.append(1)
        return compute(*args, **kwargs)

    monkeypatch.setattr(fingerprints, "sorted_digest_bounded", counted)
    return Workspace(tmp_path / "ws"), calls


def judged(ws: Workspace) -> dict:
    """{stage: (state, reasons)} judged from the catalog file in batches (the out-of-core path)."""
    states = judge(CatalogFile(ws.catalog_path, batch_rows=16), load_reports(ws))
    return {name: (state.state, state.reasons) for name, state in states.items()}


def test_a_second_judgement_of_the_same_catalog_computes_no_fingerprint(counted_ws):
    ws, calls = counted_ws
    first = judged(ws)
    computed = len(calls)
    assert computed >= 4  # ingest's output, the filter's and the split's inputs and outputs at least
    held = json.loads((ws.cache_dir / "fingerprints.json").read_text())
    assert held["catalog"] == fingerprint_cache.file_identity(ws.catalog_path) and len(held["digests"]) == computed
    assert judged(ws) == first == {name: (state.state, state.reasons)
                                   for name, state in judge(read_catalog(ws), load_reports(ws)).items()}
    assert len(calls) == computed  # every fingerprint came from the cache


def test_a_catalog_written_again_is_fingerprinted_again(counted_ws):
    ws, calls = counted_ws
    judged(ws)
    computed = len(calls)
    catalog = read_catalog(ws)
    catalog.loc[catalog.index[0], "owner_id"] = "someone else"  # a split input: the split is stale now
    write_catalog(ws, catalog)
    found = judged(ws)
    assert len(calls) > computed
    assert found["split"][0] == freshness.STALE and found == {
        name: (state.state, state.reasons) for name, state in judge(read_catalog(ws), load_reports(ws)).items()}


def test_an_edit_in_place_that_keeps_size_and_times_is_not_read_from_the_cache(counted_ws):
    """The change time, which no tool can set back, is part of the identity."""
    ws, calls = counted_ws
    judged(ws)
    computed = len(calls)
    before = os.stat(ws.catalog_path)
    data = ws.catalog_path.read_bytes()
    ws.catalog_path.write_bytes(data)  # in place: same inode, same size
    os.utime(ws.catalog_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    if os.stat(ws.catalog_path).st_ctime_ns == before.st_ctime_ns:
        pytest.skip("the file system kept the change time")
    judged(ws)
    assert len(calls) > computed


@pytest.mark.parametrize("held", some_slow(["not json", json.dumps({"scheme": 0}), json.dumps([1, 2])],
                                            fast=("not json",)))
def test_a_broken_or_foreign_cache_is_recomputed_and_replaced(counted_ws, held):
    ws, calls = counted_ws
    first = judged(ws)
    computed = len(calls)
    path = ws.cache_dir / "fingerprints.json"
    if held.startswith("{"):  # another scheme's digests for this very catalog, all wrong
        old = json.loads(path.read_text())
        held = json.dumps({**old, "scheme": "0/" + fingerprint_cache.scheme(),
                           "digests": {key: "0" * 16 for key in old["digests"]}})
    path.write_text(held)
    assert judged(ws) == first
    assert len(calls) == 2 * computed
    assert json.loads(path.read_text())["scheme"] == fingerprint_cache.scheme()


def test_nothing_is_written_beside_a_catalog_outside_a_workspace(counted_ws, tmp_path):
    ws, _ = counted_ws
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "catalog.parquet").write_bytes(ws.catalog_path.read_bytes())
    catalog = CatalogFile(alone / "catalog.parquet", batch_rows=16)
    assert fingerprints.output_fingerprint(catalog, "ingest") == \
        fingerprints.output_fingerprint(read_catalog(ws), "ingest")
    assert sorted(path.name for path in alone.iterdir()) == ["catalog.parquet"]
