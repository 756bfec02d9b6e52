"""`catalog_file_sha256` reads a catalog once while its file keeps its identity, and again once it changes."""

from __future__ import annotations

import builtins
import hashlib
import os

from curate import workspace


def test_the_hash_is_read_once_and_again_after_any_change(tmp_path, monkeypatch):
    path = tmp_path / "catalog.parquet"
    path.write_bytes(b"a" * 100)
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda file, *a, **k: opened.append(str(file)) or real_open(file, *a, **k))
    first = workspace.catalog_file_sha256(path)
    assert first == hashlib.sha256(b"a" * 100).hexdigest()
    assert workspace.catalog_file_sha256(path) == first and opened.count(str(path)) == 1
    with real_open(path, "r+b") as handle:  # the same size, rewritten in place
        handle.write(b"b")
    os.utime(path, ns=(1, 1))  # even with its old times put back, its change time moved
    assert workspace.catalog_file_sha256(path) == hashlib.sha256(b"b" + b"a" * 99).hexdigest()
    replaced = tmp_path / "next.parquet"
    replaced.write_bytes(b"c" * 100)
    os.replace(replaced, path)  # an atomic write: a new file under the name
    assert workspace.catalog_file_sha256(path) == hashlib.sha256(b"c" * 100).hexdigest()
