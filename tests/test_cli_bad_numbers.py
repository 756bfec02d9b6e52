"""Numeric settings the CLI audit found unchecked: NaN, inf and negatives gave tracebacks (demo
owner counts, Flickr/Commons API retries) or were accepted and misbehaved later (demo radius,
Commons page size). Each is one line now, exit 2, before anything is written or fetched."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from curate.cli.app import app

runner = CliRunner()

CASES = [
    (["ingest", "demo", "--photos", "20", "--owner-median-photos", "nan"], "--owner-median-photos"),
    (["ingest", "demo", "--photos", "20", "--owner-median-photos", "inf"], "--owner-median-photos"),
    (["ingest", "demo", "--photos", "20", "--owner-sigma", "nan"], "--owner-sigma"),
    (["ingest", "demo", "--photos", "20", "--sandals-max", "-1"], "--sandals-max"),
    (["ingest", "demo", "--photos", "20", "--city-radius-km", "0"], "--city-radius-km"),
    (["ingest", "demo", "--photos", "20", "--city-radius-km", "nan"], "--city-radius-km"),
    (["ingest", "flickr", "--tags", "chicago", "--api-retries", "-1"], "--api-retries"),
    (["ingest", "flickr", "--tags", "chicago", "--api-backoff-max-s", "nan"], "--api-backoff-max-s"),
    (["ingest", "flickr", "--tags", "chicago", "--cap", "0"], "--cap"),
    (["ingest", "commons", "--category", "Skylines", "--api-retries", "-1"], "--api-retries"),
    (["ingest", "commons", "--category", "Skylines", "--page-size", "0"], "--page-size"),
    (["ingest", "commons", "--category", "Skylines", "--page-size", "100000"], "--page-size"),
    (["ingest", "commons", "--category", "Skylines", "--maxlag-s", "-1"], "--maxlag-s"),
    (["ingest", "commons", "--category", "Skylines", "--api-backoff-s", "-1"], "--api-backoff-s"),
]


@pytest.mark.parametrize("args, names", CASES, ids=[" ".join(a[1:2] + a[-2:]) for a, _ in CASES])
def test_a_bad_number_is_one_line_exit_2(args, names, tmp_path, monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", "not-a-real-key")
    result = runner.invoke(app, [*args, "-w", str(tmp_path / "ws")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and names in lines[0] and "Traceback" not in result.output, result.output
    assert not (tmp_path / "ws" / "catalog.parquet").exists()
