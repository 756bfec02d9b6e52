"""I/O edge of the prefilter stage: look up cached embeddings, run the pure stage, save."""

from __future__ import annotations

from curate.embed import EmbeddingCache
from curate.errors import UsageError
from curate.prefilter.stage import PrefilterConfig, PrefilterReport, prefilter_catalog
from curate.runs import load_stage_report, save_stage_report
from curate.workspace import Workspace, catalog_sha256, read_catalog, write_catalog


def run_prefilter(ws: Workspace, config: PrefilterConfig, embeddings: str | None = None) -> PrefilterReport:
    """`embeddings`: the cache to use (a backbone name, or name-<size>px); default: the last `curate embed`'s."""
    if embeddings is None:
        last = load_stage_report(ws, "embed")
        if last is None:
            raise UsageError("no embeddings in this workspace yet: run `curate embed` first")
        embeddings = last["cache_key"]
    catalog = read_catalog(ws)
    input_hash = catalog_sha256(ws)
    vectors, found, ok = EmbeddingCache(ws, embeddings).lookup(catalog["sha256"])
    result, report = prefilter_catalog(catalog, vectors, found, ok, config)
    write_catalog(ws, result)
    save_stage_report(ws, "prefilter", input_hash, {**report.to_dict(), "embeddings": embeddings})
    return report
