"""Benchmark `curate ingest flickr` against the fake Flickr API: rate limit use, duplicates, coverage.

The fake API (tests/fake_flickr.py, real HTTP on 127.0.0.1) holds --photos matching
photos and enforces Flickr's 4,000-result cap, so the client has to slice the query by
taken date. Time is scaled so the run takes tens of seconds instead of hours: with
--time-scale 10 one "hour" lasts 360 s, and the client's budget of --calls-per-hour
(Flickr: 3,600) becomes calls_per_hour * time_scale real calls per real hour.

It prints, from the fake server's own request log:
- the call rate in calls per (scaled) hour and its ratio to the limit (goal: 0.90..1.00);
- the busiest scaled minute against the limit's per-minute share (must not exceed it by
  more than the one call a token bucket of burst 1 allows);
- duplicate photo ids in the catalog (goal: 0) and coverage of the fake's total (goal >= 99%).

    .venv/bin/python bench/flickr_ingest.py --photos 100000 --time-scale 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.fake_flickr when run as a script

from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr  # noqa: E402
from curate.workspace import Workspace, read_catalog  # noqa: E402
from tests.fake_flickr import FakeFlickr, make_photos  # noqa: E402


def busiest_window(times: list[float], window_s: float) -> int:
    """Most calls in any window of `window_s` seconds (two pointers over sorted times)."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--calls-per-hour", type=float, default=3600.0, help="the API limit (Flickr: 3,600)")
    parser.add_argument("--time-scale", type=float, default=10.0, help="scaled seconds per real second")
    parser.add_argument("--span-days", type=int, default=5000, help="taken dates spread over this many days")
    args = parser.parse_args()

    photos = make_photos(args.photos, span_days=args.span_days, licences=("4", "5", "9"))
    real_rate_per_hour = args.calls_per_hour * args.time_scale
    with FakeFlickr(photos, serve_images=False) as fake, tempfile.TemporaryDirectory() as folder:
        ws = Workspace(Path(folder) / "ws")
        options = FlickrOptions(FlickrQuery(tags=("chicago", "skyline")), endpoint=fake.endpoint,
                                calls_per_hour=real_rate_per_hour, download_images=False)
        started = time.monotonic()
        report = ingest_flickr(ws, options, api_key=fake.api_key)
        wall_s = time.monotonic() - started
        times = sorted(call.time_s for call in fake.calls)
        catalog = read_catalog(ws)
        total = len(fake.matching(tags="chicago,skyline", tag_mode="all"))

    calls = len(times)
    span_s = times[-1] - times[0]
    scaled_hours = span_s * args.time_scale / 3600
    rate = (calls - 1) / scaled_hours  # calls per scaled hour, first call to last
    ratio = rate / args.calls_per_hour
    minute_s = 60 / args.time_scale
    busiest = busiest_window(times, minute_s)
    per_minute_limit = args.calls_per_hour / 60
    duplicates = int(catalog["source_id"].duplicated().sum())
    coverage = catalog["source_id"].nunique() / total

    print(f"fake Flickr: {total:,} matching photos, result cap {fake.cap:,}; time scale x{args.time_scale:g} "
          f"(1 scaled hour = {3600 / args.time_scale:g} s)")
    print(f"API calls: {calls} ({report.pages_listed} search pages, {report.slices} date slices) in {span_s:.1f} s "
          f"= {scaled_hours:.3f} scaled hours; wall time of the whole ingest {wall_s:.1f} s")
    print(f"call rate: {rate:,.0f} calls/hour vs limit {args.calls_per_hour:,.0f} -> ratio {ratio:.3f} "
          f"(goal 0.90..1.00)")
    print(f"busiest scaled minute: {busiest} calls vs {per_minute_limit:g} allowed per minute "
          f"(ratio {busiest / per_minute_limit:.3f})")
    print(f"catalog rows: {len(catalog):,}; duplicate photo ids: {duplicates}; coverage of the fake's total: "
          f"{coverage:.2%} (goal >= 99%)")
    ok = 0.90 <= ratio <= 1.0 and busiest <= per_minute_limit + 1 and duplicates == 0 and coverage >= 0.99
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
