"""A fake Wikimedia Commons: the MediaWiki query API plus its thumbnail host, over real HTTP.

`FakeCommons` serves `/w/api.php` from the file pages in tests/fixtures/commons/files.json
(a real `action=query&formatversion=2&prop=imageinfo|categories|coordinates` answer) the
way MediaWiki does:

- `generator=categorymembers` (gcmtitle, gcmtype=file, gcmnamespace=6, gcmlimit capped at
  `max_limit` as the real API caps at its maximum, gcmcontinue tokens "file|<HEXSORTKEY>|<pageid>");
- `generator=geosearch` (ggscoord, ggsradius <= 10,000 m, ggslimit; pages carry `index`,
  nearest first; no continuation, like the real module);
- `prop=imageinfo` renders at most `thumbs_per_answer` thumbnails per answer (MediaWiki's
  TRANSFORM_LIMIT is 50): the rest of the batch comes back without imageinfo and the
  answer carries `iicontinue` and no `batchcomplete`, so a client must merge pages;
- `clshow=!hidden` hides hidden categories; thumbnails are rewritten to `iiurlwidth` and
  served as small distinct JPEGs from the same server.

Faults: `fail_next(*responses)` answers the next API requests with canned responses
(maxlag errors, 500s, garbage...). The API's own concurrency is measured
(`api_max_in_flight`) to check that a client is strictly serial.
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
from collections.abc import Callable
from pathlib import Path

from tests.helpers import jpeg_bytes
from tests.httpfixtures import FakeApi, FakeServer, Request, Response, json_response

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "commons"
API_PATH = "/w/api.php"
UPLOAD_HOST = "https://upload.wikimedia.org"
_WIDTH = re.compile(r"(\d+)px-")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_pages() -> list[dict]:
    return fixture("files.json")["query"]["pages"]


def maxlag_error(retry_after_s: int = 5) -> Response:
    """The real maxlag answer: HTTP 200, an error object, Retry-After and X-Database-Lag."""
    return json_response(fixture("maxlag.json"), headers={"Retry-After": str(retry_after_s),
                                                           "X-Database-Lag": "7"})


def api_error(code: str, info: str) -> Response:
    return json_response({"error": {"code": code, "info": info, "docref": "See /w/api.php for API usage."}})


def thumb_image(pageid: int) -> bytes:
    """A distinct small JPEG per file."""
    return jpeg_bytes(color=(pageid * 37 % 256, pageid * 11 % 256, (pageid * 5 + 90) % 256))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


class FakeCommons(FakeApi):
    """The fake MediaWiki API (see the module docstring). Use as a context manager."""

    path = API_PATH

    def __init__(self, pages: list[dict] | None = None, *, max_limit: int = 500, thumbs_per_answer: int = 50):
        self.pages = pages if pages is not None else fixture_pages()
        self.max_limit = max_limit
        self.thumbs_per_answer = thumbs_per_answer
        self.server = FakeServer()
        self.server.route(API_PATH, self._handle)
        self.thumb_hook: Callable[[Request], None] | None = None  # runs before each image is served
        self._faults: list[Response] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.api_max_in_flight = 0

    def fail_next(self, *responses: Response) -> None:
        with self._lock:
            self._faults.extend(responses)

    def api_hits(self) -> list:
        return [hit for hit in self.server.log() if hit.path == API_PATH]

    def thumb_paths(self) -> list[str]:
        """Thumbnail paths served in full, once per time."""
        return [path for path in self.server.completed_paths() if path.startswith("/wikipedia/")]

    # -- the API -----------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        with self._lock:
            self._in_flight += 1
            self.api_max_in_flight = max(self.api_max_in_flight, self._in_flight)
            fault = self._faults.pop(0) if self._faults else None
        try:
            return fault or self._answer({name: values[-1] for name, values in request.query.items()})
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, q: dict[str, str]) -> Response:
        if q.get("action") != "query" or q.get("format") != "json" or q.get("formatversion") != "2":
            return api_error("badvalue", "This fake answers action=query&format=json&formatversion=2 only.")
        if q.get("generator") == "categorymembers":
            members, after = self._category(q)
        elif q.get("generator") == "geosearch":
            members, after = self._geosearch(q)
            if isinstance(members, Response):
                return members
        else:
            return api_error("badvalue", "Unrecognized value for parameter \"generator\".")
        return json_response(self._batch_answer(q, members, after))

    def _category(self, q: dict[str, str]) -> tuple[list[dict], str | None]:
        title = q.get("gcmtitle", "")
        members = sorted((p for p in self.pages if any(c["title"] == title for c in p.get("categories", []))),
                         key=lambda p: (p["title"].upper(), p["pageid"]))
        start = 0
        if q.get("gcmcontinue"):
            pageid = int(q["gcmcontinue"].rsplit("|", 1)[1])
            start = next(i for i, p in enumerate(members) if p["pageid"] == pageid)
        limit = min(self.max_limit, 500 if q.get("gcmlimit") == "max" else int(q.get("gcmlimit", 10)))
        batch = members[start:start + limit]
        following = members[start + limit] if start + limit < len(members) else None
        token = None if following is None else \
            f"file|{following['title'][5:].upper().encode().hex().upper()}|{following['pageid']}"
        return batch, token

    def _geosearch(self, q: dict[str, str]):
        lat, lon = map(float, q["ggscoord"].split("|"))
        radius = int(q.get("ggsradius", 500))
        if not 10 <= radius <= 10_000:
            return api_error("badvalue", f"Invalid value \"{radius}\" for integer parameter \"ggsradius\"."), None
        limit = min(self.max_limit, int(q.get("ggslimit", 10)))
        found = []
        for page in self.pages:
            for c in page.get("coordinates", []):
                if c.get("primary") and distance_m(lat, lon, c["lat"], c["lon"]) <= radius:
                    found.append((distance_m(lat, lon, c["lat"], c["lon"]), page))
        found.sort(key=lambda pair: pair[0])
        return [dict(page, index=i) for i, (_, page) in enumerate(found[:limit])], None

    def _batch_answer(self, q: dict[str, str], members: list[dict], after: str | None) -> dict:
        """One answer for a generated batch, its imageinfo limited to thumbs_per_answer pages."""
        start = 0
        if q.get("iicontinue"):
            name = q["iicontinue"].split("|", 1)[0].replace("_", " ")
            start = next(i for i, p in enumerate(members) if p["title"] == "File:" + name)
        end = start + self.thumbs_per_answer
        width = int(q.get("iiurlwidth", 0) or 0)
        pages = [self._page(page, with_info=start <= i < end, width=width, q=q) for i, page in enumerate(members)]
        answer: dict = {}
        if end < len(members):
            generator_position = {"gcmcontinue": q["gcmcontinue"]} if q.get("gcmcontinue") else {}
            answer["continue"] = {"iicontinue": f"{members[end]['title'][5:].replace(' ', '_')}|20240101000000",
                                  **generator_position, "continue": "gcmcontinue||"}
        else:
            answer["batchcomplete"] = True
            if after is not None:
                answer["continue"] = {"gcmcontinue": after, "continue": "gcmcontinue||"}
        if pages:
            answer["query"] = {"pages": pages}
        return answer

    def _page(self, page: dict, *, with_info: bool, width: int, q: dict[str, str]) -> dict:
        page = copy.deepcopy(page)
        categories = [c for c in page.pop("categories", []) if not (q.get("clshow") == "!hidden" and c.get("hidden"))]
        if "categories" in q.get("prop", "") and categories:
            page["categories"] = [{"ns": c["ns"], "title": c["title"]} for c in categories]
        if "coordinates" not in q.get("prop", ""):
            page.pop("coordinates", None)
        infos = page.pop("imageinfo", [])
        if with_info and "imageinfo" in q.get("prop", ""):
            page["imageinfo"] = [self._info(info, page["pageid"], width) for info in infos]
        return page

    def _info(self, info: dict, pageid: int, width: int) -> dict:
        info = dict(info)
        for name in ("url", "thumburl"):
            if name in info:
                info[name] = info[name].replace(UPLOAD_HOST, self.server.base_url)
        if "thumburl" in info and width:
            info["thumburl"] = _WIDTH.sub(f"{width}px-", info["thumburl"], count=1)
            info["thumbwidth"] = width
        for name in ("url", "thumburl"):
            if name in info:
                self.server.route(info[name][len(self.server.base_url):], self._image_handler(pageid))
        return info

    def _image_handler(self, pageid: int) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            if self.thumb_hook is not None:
                self.thumb_hook(request)
            return Response(thumb_image(pageid), content_type="image/jpeg")

        return serve
