"""Freshness fingerprints of a large catalog, kept on disk from one command to the next.

Every command that judges the stages (status, check-leakage, report, export, `classify train`, each stage's own
report) computes fingerprints of the catalog (`curate.freshness`); out of core each is a pass over the file and a
sort on disk: at 10M rows `curate status` took 9 minutes and `check-leakage` 8 (docs/benchmarks.md, catalog work
out of core), nearly all of it judging freshness on a catalog the command before had just fingerprinted. The
fingerprints of a catalog file are kept in `<workspace>/cache/fingerprints.json`, keyed by the file's identity
(device, inode, size, modification and change times, per part of a folder catalog): a catalog write is an atomic
replace (a new inode) and an edit in place changes its change time, which tools cannot set back on Linux and macOS
file systems (FAT, exFAT and some network mounts keep no true change time: there, an edit in place that also sets
the modification time back would be missed; delete the file to be sure). They are reused while that identity
holds, only for catalogs of MIN_ROWS rows or more (below it a fingerprint takes a second) that are judged in
batches (`curate.catalog_batches.CatalogFile`, the DuckDB engine's path) of more than one batch (65,536 rows).
The file holds one catalog's fingerprints: a new catalog replaces them. The pandas and pyarrow versions are part
of the key (a fingerprint is their hash of the values), so is SCHEME.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

# What a fingerprint covers is the catalog's identity, the fingerprint's name (its kind, stage and columns) and
# this scheme: bump it when the rows or values a fingerprint hashes change (the views in curate.fingerprints, which
# call curate.review.apply.before_review and curate.records' undo of the prefilter's repairs), so that entries a
# previous version wrote for an unchanged catalog are not read as today's.
SCHEME = 1


def scheme() -> str:
    """SCHEME with the versions of the libraries a fingerprint's bytes come from."""
    import pandas as pd
    import pyarrow as pa

    return f"{SCHEME}/pandas {pd.__version__}/pyarrow {pa.__version__}"
MIN_ROWS = 50_000  # as curate.catalog_batches.EXTERNAL_DIGEST_ROWS: where a fingerprint starts to cost


def file_identity(path: Path) -> list | None:
    """[[name, device, inode, size, mtime_ns, ctime_ns], …] of a catalog file, or of a folder's `*.parquet`
    parts in name order; None when it cannot be read."""
    try:
        parts = sorted(part for part in path.glob("*.parquet") if part.is_file()) if path.is_dir() else [path]
        return [[part.name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
                for part in parts for st in (part.stat(),)]
    except OSError:
        return None


def cache_path(catalog_path: Path) -> Path | None:
    """`cache/fingerprints.json` beside a workspace's catalog (a folder holding `reports/` or `cache/`); None
    for a catalog outside a workspace, where nothing is written."""
    root = Path(catalog_path).parent
    return root / "cache" / "fingerprints.json" if (root / "reports").is_dir() or (root / "cache").is_dir() else None


def lasting(catalog_path: Path, identity: list | None, rows: int, name: str, compute: Callable[[], str]) -> str:
    """The fingerprint `name` of the catalog at `catalog_path` whose identity (`file_identity`) was `identity`
    when it was opened: from the cache file while it holds that identity, else `compute()`, then kept there if
    the file is still the one read. A cache that cannot be read or written is no cache."""
    where = cache_path(catalog_path) if identity is not None and rows >= MIN_ROWS else None
    if where is None:
        return compute()
    digest = _held(where, identity).get(name)
    if isinstance(digest, str):
        return digest
    digest = compute()
    if file_identity(Path(catalog_path)) == identity:  # (re-read: another command may have added some since)
        _write(where, {"scheme": scheme(), "catalog": identity, "digests": {**_held(where, identity), name: digest}})
    return digest


def _held(where: Path, identity: list) -> dict:
    """The digests the cache file holds for `identity` under this SCHEME ({} for another catalog, or none)."""
    try:
        held = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(held, dict) or held.get("scheme") != scheme() or held.get("catalog") != identity:
        return {}
    digests = held.get("digests")
    return {key: value for key, value in digests.items() if isinstance(value, str)} if isinstance(digests, dict) \
        else {}


def _write(where: Path, payload: dict) -> None:
    """Write the cache file atomically; a read-only workspace keeps none."""
    from curate.workspace import atomic_write_bytes

    try:
        atomic_write_bytes(where, json.dumps(payload).encode("utf-8"), durable=False)  # (a cache: lost is recomputed)
    except OSError:
        return
