"""A fake Flickr REST API over real HTTP on 127.0.0.1 (for tests and bench/flickr_ingest.py).

It answers `flickr.photos.search` and `flickr.photos.licenses.getInfo` in Flickr's JSON
format (format=json&nojsoncallback=1) from a list of generated photos, and serves each
photo's image (a small distinct JPEG) at the URLs it hands out. What it enforces, like
the real API:

- an API key (anything else: error 100 "Invalid API Key" in an HTTP 200 answer);
- per_page at most 500, at most 250 for geo queries (bbox, lat/lon, has_geo);
- the result cap: `total` is the true count, but only the first `cap` (default 4,000)
  results are reachable; pages past the cap repeat earlier pages;
- extras: geo and url_* fields only appear when asked for.

Faults to inject on the next matching calls: "429", "500", "slow" (answers after
`slow_s`), "malformed" (truncated JSON), "not_json" (a recorded non-JSON body), "bad_structure",
"error105" and "error201" (Flickr's service unavailable). `on_search(n)` is called before the
n-th search call is answered (a test can interrupt the client there).

    with FakeFlickr(make_photos(1200)) as fake:
        fake.inject("500", times=1)
        requests.get(fake.endpoint, params={"method": "flickr.photos.search", "api_key": fake.api_key, ...})
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.helpers import jpeg_bytes
from tests.httpfixtures import FakeApi, FakeServer, Request, Response, json_response

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "flickr"
REST_PATH = "/services/rest/"
API_KEY = "fk3y0123456789abcdef0123456789ab"  # shaped like a real one (32 hex digits)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
GEO_PARAMS = ("bbox", "lat", "has_geo")


@dataclass
class FakePhoto:
    photo_id: str
    owner: str
    owner_name: str
    title: str
    tags: list[str]
    license: str
    taken: datetime
    posted: int  # unix seconds
    lat: float | None = None
    lon: float | None = None
    sizes: tuple[str, ...] = ("l", "c", "z", "m")  # url_* extras it has


def make_photos(count: int, seed: int = 0, start: str = "2010-01-01 00:00:00", span_days: int = 4000,
                tags: tuple[str, ...] = ("chicago", "skyline"), licences: tuple[str, ...] = ("4", "5", "9", "2"),
                geo_fraction: float = 0.6, owners: int = 40) -> list[FakePhoto]:
    """`count` photos with every `tags`, CC licences, taken uniformly over `span_days`."""
    rng = random.Random(seed)
    first = datetime.strptime(start, DATE_FORMAT)
    photos = []
    for n in range(count):
        owner = rng.randrange(owners)
        has_geo = rng.random() < geo_fraction
        photos.append(FakePhoto(
            photo_id=str(50_000_000_000 + n * 7 + rng.randrange(7)), owner=f"{10_000 + owner}@N0{owner % 9}",
            owner_name=f"Photographer {owner}", title=f"View {n}",
            tags=[*tags, rng.choice(["night", "lake", "river", "tower", "sunset"])],
            license=licences[n % len(licences)],
            taken=first + timedelta(seconds=rng.randrange(span_days * 86_400)),
            posted=1_300_000_000 + n * 60,
            lat=41.88 + rng.uniform(-0.05, 0.05) if has_geo else None,
            lon=-87.63 + rng.uniform(-0.05, 0.05) if has_geo else None,
            sizes=("l", "c", "z", "m") if n % 5 else ("z", "m"),
        ))
    return photos


@dataclass
class Fault:
    kind: str
    times: int
    method: str | None = "flickr.photos.search"
    after: int = 0  # matching calls to let through first


@dataclass
class ApiCall:
    method: str
    params: dict[str, str]  # without the api key
    time_s: float = 0.0


class FakeFlickr(FakeApi):
    """The fake API; see the module docstring. Use as a context manager."""

    path = REST_PATH

    def __init__(self, photos: list[FakePhoto], api_key: str = API_KEY, cap: int = 4000, slow_s: float = 2.0,
                 serve_images: bool = True, latency_s: float = 0.0):
        self.photos = sorted(photos, key=lambda p: (p.taken, p.posted))  # date windows by bisection
        self._taken = [p.taken for p in self.photos]
        self.api_key = api_key
        self.cap = cap
        self.slow_s = slow_s
        self.server = FakeServer(latency_s=latency_s)
        self.calls: list[ApiCall] = []
        self.faults: list[Fault] = []
        self.on_search = None  # callable(n) run before the n-th search call is answered
        self._lock = threading.Lock()
        self._licences = json.loads((FIXTURES / "licenses.json").read_text())
        self.server.route(REST_PATH, self._handle)
        if serve_images:
            for photo in self.photos:
                body = _image(photo.photo_id)
                for size in photo.sizes:
                    self.server.route(self._image_path(photo, size), Response(body, content_type="image/jpeg"))

    # -- lifecycle ---------------------------------------------------------------------------
    def inject(self, kind: str, times: int = 1, method: str | None = "flickr.photos.search", after: int = 0) -> None:
        """Answer the next `times` calls of `method` (None: any) with fault `kind`, after `after` good ones."""
        with self._lock:
            self.faults.append(Fault(kind, times, method, after))

    def search_calls(self) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls if call.method == "flickr.photos.search"]

    def matching(self, **params: str) -> list[FakePhoto]:
        """The photos a search with `params` matches (all of them, ignoring the cap)."""
        return self._filter(params)

    def image_urls(self) -> int:
        return sum(1 for hit in self.server.log() if hit.path.startswith("/img/"))

    # -- answering ---------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        params = {name: values[-1] for name, values in request.query.items()}
        method = params.get("method", "")
        key = params.pop("api_key", None)
        with self._lock:
            self.calls.append(ApiCall(method, params, time.monotonic()))
            searches = sum(1 for call in self.calls if call.method == "flickr.photos.search")
            fault = self._take_fault(method)
        if method == "flickr.photos.search" and self.on_search is not None:
            self.on_search(searches)
        if fault is not None:
            answer = self._fault_response(fault)
            if answer is not None:
                return answer
        if key != self.api_key:
            return json_response(json.loads((FIXTURES / "error_invalid_key.json").read_text()))
        if method == "flickr.photos.licenses.getInfo":
            answer = json_response(self._licences)
        elif method == "flickr.photos.search":
            answer = json_response(self._search(params))
        else:
            answer = json_response({"stat": "fail", "code": 112, "message": f'Method "{method}" not found'})
        if fault is not None and fault.kind == "slow":
            answer.delay_s = self.slow_s
        return answer

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method in (None, method):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    def _fault_response(self, fault: Fault) -> Response | None:
        if fault.kind == "429":
            return Response(b"Too Many Requests", status=429, headers={"Retry-After": "1"}, content_type="text/plain")
        if fault.kind == "500":
            return Response(b"<html>Internal Server Error</html>", status=500, content_type="text/html")
        if fault.kind == "malformed":
            return Response(b'{"photos": {"page": 1, "pages": 3, "perpage": 5', content_type="application/json")
        if fault.kind == "bad_structure":
            return json_response({"stat": "ok", "photos": {"page": "one", "photo": "nope"}})
        if fault.kind == "error105":
            return json_response({"stat": "fail", "code": 105, "message": "Service currently unavailable"})
        if fault.kind == "error201":  # as recorded in ../shared/realdata/flickr-api-recordings
            return json_response({"stat": "fail", "code": 201,
                                  "message": "Sorry, the Flickr API service is not currently available."})
        if fault.kind == "not_json":  # recorded: cassettes/test_retries_invalid_xml_error.yml, HTTP 200
            return Response(b'{"stat":"fail","message":"Sorry, the Flickr API service is not currently '
                            b'available.","code":201},', content_type="text/xml")
        return None  # "slow": the normal answer, late

    def _search(self, params: dict[str, str]) -> dict:
        matches = self._filter(params)
        sort = params.get("sort", "date-posted-desc")
        by_taken = sort.startswith("date-taken")
        if sort != "date-taken-asc":  # matches come in that order already
            matches.sort(key=lambda p: (p.taken, p.posted) if by_taken else p.posted, reverse=sort.endswith("desc"))
        is_geo = any(params.get(name) for name in GEO_PARAMS)
        per_page = max(1, min(int(params.get("per_page", 100)), 250 if is_geo else 500))
        page = max(1, int(params.get("page", 1)))
        reachable_pages = max(1, math.ceil(min(len(matches), self.cap) / per_page))
        start = ((page - 1) % reachable_pages) * per_page  # past the cap, pages repeat
        served = matches[:self.cap][start:start + per_page] if page <= math.ceil(len(matches) / per_page) else []
        extras = set(params.get("extras", "").split(","))
        return {"photos": {"page": page, "pages": math.ceil(len(matches) / per_page), "perpage": per_page,
                           "total": len(matches), "photo": [self._photo_json(p, extras) for p in served]},
                "stat": "ok"}

    def _filter(self, params: dict[str, str]) -> list[FakePhoto]:
        wanted = [t.strip().lower() for t in params.get("tags", "").split(",") if t.strip()]
        need = all if params.get("tag_mode", "any") == "all" else any
        licences = set(params["license"].split(",")) if params.get("license") else None
        low, high = _when(params.get("min_taken_date")), _when(params.get("max_taken_date"))
        bbox = [float(v) for v in params["bbox"].split(",")] if params.get("bbox") else None
        out = []
        first = bisect.bisect_left(self._taken, low) if low else 0
        last = bisect.bisect_right(self._taken, high) if high else len(self.photos)
        for photo in self.photos[first:last]:
            if wanted and not need(tag in photo.tags for tag in wanted):
                continue
            if licences is not None and photo.license not in licences:
                continue
            if (params.get("has_geo") or bbox or params.get("lat")) and photo.lat is None:
                continue
            if bbox and not (bbox[0] <= photo.lon <= bbox[2] and bbox[1] <= photo.lat <= bbox[3]):
                continue
            if params.get("lat") and _km(photo, float(params["lat"]), float(params["lon"])) > float(params["radius"]):
                continue
            out.append(photo)
        return out

    def _photo_json(self, photo: FakePhoto, extras: set[str]) -> dict:
        item = {"id": photo.photo_id, "owner": photo.owner, "secret": _secret(photo.photo_id), "server": "65535",
                "farm": 66, "title": photo.title, "ispublic": 1, "isfriend": 0, "isfamily": 0}
        if "license" in extras:
            item["license"] = photo.license
        if "date_taken" in extras:
            item.update(datetaken=photo.taken.strftime(DATE_FORMAT), datetakengranularity=0, datetakenunknown="0")
        if "owner_name" in extras:
            item["ownername"] = photo.owner_name
        if "tags" in extras:
            item["tags"] = " ".join(photo.tags)
        if "geo" in extras:
            item.update(latitude=photo.lat or 0, longitude=photo.lon or 0,
                        accuracy="16" if photo.lat is not None else 0, context=0)
        for size in photo.sizes:
            if f"url_{size}" in extras:
                item.update({f"url_{size}": self.server.url(self._image_path(photo, size)),
                             f"height_{size}": 48, f"width_{size}": 64})
        return item

    @staticmethod
    def _image_path(photo: FakePhoto, size: str) -> str:
        return f"/img/{photo.photo_id}_{_secret(photo.photo_id)}_{size}.jpg"


def _secret(photo_id: str) -> str:
    return hashlib.sha256(photo_id.encode()).hexdigest()[:10]


def _image(photo_id: str) -> bytes:
    digest = hashlib.sha256(photo_id.encode()).digest()
    return jpeg_bytes(color=(digest[0], digest[1], digest[2]))


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.isdigit():
        return datetime.utcfromtimestamp(int(value))
    return datetime.strptime(value, DATE_FORMAT)


def _km(photo: FakePhoto, lat: float, lon: float) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (photo.lat, photo.lon, lat, lon))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
