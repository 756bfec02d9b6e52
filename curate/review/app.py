"""`curate review`'s web app (FastAPI): the page, thumbnails, and the decision endpoints.

Safe by default: bound to 127.0.0.1 it answers only requests addressed to a loopback name (a
web page elsewhere cannot reach it through DNS rebinding); bound to any other address, every
request needs the access token printed at start (``?token=``, then a cookie). Every state-changing
request is a POST carrying the page's CSRF token in the ``X-CSRF-Token`` header.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations.
import hmac
import ipaddress
import mimetypes
import secrets
from collections import Counter

from pydantic import BaseModel

from curate import objectstore, schema
from curate.errors import CurateError
from curate.review.journal import clean_label
from curate.review.page import card, render_page
from curate.review.queues import QUEUES, filter_positions
from curate.review.session import ReviewSession, StageRunning
from curate.review.thumbs import cached_thumbnail
from curate.webservice import BodyLimit, validation_line

TOKEN_COOKIE = "curate_review_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
PAGE_SIZE = 48
MAX_CLUSTER_SHOWN = 8
# A decision request names photo ids: 8 MiB holds about 150,000 of them. A larger body is refused before it is
# read (an audit sent 200 MB, which grew the server by 420 MB before the framework refused it).
MAX_BODY_BYTES = 8 << 20


class DecideBody(BaseModel):
    photo_ids: list[str]
    action: str
    label: str | None = None
    queue: str | None = None


class UndoBody(BaseModel):
    photo_id: str | None = None


class BatchBody(BaseModel):
    action: str
    queue: str
    label: str = ""
    owner: str = ""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1, localhost."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header: 'localhost:8765' -> 'localhost', '[::1]:80' -> '[::1]'."""
    if header.startswith("["):
        return header[:header.find("]") + 1]
    return header.rsplit(":", 1)[0]


def _same(given, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def create_app(session: ReviewSession, host: str = "127.0.0.1", token: str | None = None,
               default_queue: str = "label_issues", page_size: int = PAGE_SIZE):
    """The FastAPI app over a ReviewSession. `token`: required on every request (give one when
    `host` is not a loopback address; `access_token()` makes one)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

    app = FastAPI(title="curate review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, advice="send fewer photo ids at a time")
    csrf = secrets.token_urlsafe(24)
    app.state.csrf = csrf

    @app.middleware("http")
    async def guard(request: Request, call_next):
        refused = refusal(request, token, csrf)
        if refused is not None:
            return refused
        response = await call_next(request)
        if token is not None and request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(CurateError)
    async def curate_error(request: Request, exc: CurateError):
        return JSONResponse({"detail": str(exc)}, 409 if isinstance(exc, StageRunning) else 400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_line(list(exc.errors()), "JSON field")}, 422)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, queue: str = default_queue, page: int = 0, label: str = "", owner: str = ""):
        if queue not in QUEUES:
            return PlainTextResponse(f"unknown queue {queue!r}; choose one of {', '.join(QUEUES)}", 400)
        token_query = {"token": request.query_params["token"]} if token and request.query_params.get("token") else {}
        return HTMLResponse(build_page(session, csrf, queue, max(page, 0), label, owner, page_size, token_query))

    @app.get("/thumb/{photo_id:path}")
    def thumb(photo_id: str):
        return _image_response(session, photo_id, thumbnail=True)

    @app.get("/image/{photo_id:path}")
    def image(photo_id: str):
        return _image_response(session, photo_id, thumbnail=False)

    @app.post("/api/decide")
    def decide(body: DecideBody):
        if body.queue is not None and body.queue not in QUEUES:  # /api/batch refuses it too (audit H)
            return JSONResponse({"detail": f"unknown queue {body.queue!r}; choose one of {', '.join(QUEUES)}"}, 400)
        with session.lock:
            known = set(session.catalog["label"].dropna())
        done = session.decide(body.photo_ids, body.action, body.label, body.queue)
        message = f"{body.action}: {len(done)} photo(s)"
        label = clean_label(body.label)
        if body.action == "relabel" and done and label not in known:  # a typo would make a class of its own
            message += (f"; note: {label!r} is a new label, not one of the catalog's {len(known)}: it makes a new "
                        "class (undo if it is a typo)")
        if body.action in ("keep", "relabel") and done:
            message += label_conflict_note(session, [d["photo_id"] for d in done])
        return _answer(session, done, message)

    @app.post("/api/undo")
    def undo(body: UndoBody):
        done = session.undo(body.photo_id)
        return _answer(session, done, f"undone: {', '.join(d['photo_id'] for d in done[:5])}"
                                      + (" …" if len(done) > 5 else ""))

    @app.post("/api/batch")
    def batch(body: BatchBody):
        with session.lock:
            session.refresh()
            positions = filter_positions(session.view, session.queue(body.queue), body.label, body.owner)
            ids = session.photo_ids[positions].tolist()
        done = session.decide(ids, body.action, queue=body.queue)
        return _answer(session, done, f"{body.action}: all {len(done)} photos of this view")

    return app


def label_conflict_note(session: ReviewSession, photo_ids: list[str]) -> str:
    """A note when a keep or relabel of `photo_ids` leaves an image kept under two or more labels: byte-identical
    copies (sha256) or near-duplicates (near_dup_cluster) kept under different labels; else "" (audit AZ F2: the
    answer was "keep: 1 photo(s)", and the export then trained one picture as two classes without a word)."""
    found, most = [], 2
    with session.lock:
        catalog = session.catalog
        kept = (catalog["status"] == schema.KEPT) & catalog["label"].notna()
        decided = kept & catalog[schema.PHOTO_ID].isin(photo_ids)
        for column, kind in (("sha256", "byte-identical copies"), ("near_dup_cluster", "near-duplicates")):
            keys = catalog[column]
            same = kept & keys.isin(set(keys[decided].dropna()))
            labels = catalog.loc[same, "label"].astype(str).groupby(keys[same]).agg(lambda names: sorted(set(names)))
            found += [f"{kind} kept as {' and '.join(map(repr, names))}" for names in labels if len(names) >= 2]
            most = max([most, *map(len, labels)])
    if not found:
        return ""
    # groups kept under the same labels read alike: said once, with how many there are (review BG)
    counts = Counter(found)
    said = [text + (f" ({n} {'clusters' if text.startswith('near') else 'images'})" if n > 1 else "")
            for text, n in counts.items()]
    shown = "; ".join(said[:3]) + (" …" if len(said) > 3 else "")
    labels_word = "two labels" if most == 2 else "two or more labels"
    return (f"; note: an image is now kept under {labels_word} ({shown}): one picture would train two classes; keep "
            "the copy whose label is right and drop or relabel the others (the duplicates queue shows them)")


def refusal(request, token: str | None, csrf: str):
    """The 403 answer for a request that may not pass, else None: without `token` only loopback host
    names are answered; with it, the token (query or cookie) is needed; a POST needs the CSRF header."""
    from fastapi.responses import JSONResponse, PlainTextResponse

    if token is None:
        if not is_loopback(host_name(request.headers.get("host") or "")):
            return PlainTextResponse("this review server answers only http://127.0.0.1 (or localhost)", 403)
    elif not _same(request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE), token):
        return PlainTextResponse("this review server needs its access token: open the URL that "
                                 "`curate review` printed (it ends with ?token=...)", 403)
    if request.method == "POST" and not _same(request.headers.get("x-csrf-token"), csrf):
        return JSONResponse({"detail": "missing or wrong CSRF token: reload the page"}, 403)
    if request.method == "POST":
        return body_refusal(request.headers)
    return None


def body_refusal(headers):
    """The answer for a POST whose body this app will not read (not JSON, no length, too large), else None."""
    from fastapi.responses import JSONResponse

    if (headers.get("content-type") or "").split(";")[0].strip().lower() != "application/json":
        return JSONResponse({"detail": "send the request body as JSON (Content-Type: application/json)"}, 415)
    length = headers.get("content-length")
    if length is None or not length.strip().isdigit():
        return JSONResponse({"detail": "send the request body with a Content-Length header"}, 411)
    return None  # a body over MAX_BODY_BYTES: `BodyLimit` (declared or counted as it arrives)


def access_token() -> str:
    """A fresh access token for a server bound to a non-loopback address."""
    return secrets.token_urlsafe(18)


def _answer(session: ReviewSession, done: list[dict], message: str) -> dict:
    ids = list(dict.fromkeys(d["photo_id"] for d in done))
    return {"decisions": [d["id"] for d in done], "state": session.state(ids), "message": message}


def _image_response(session: ReviewSession, photo_id: str, thumbnail: bool):
    from fastapi.responses import FileResponse, PlainTextResponse, Response

    with session.lock:
        found = session.index.get_indexer([photo_id])[0]
        row = session.catalog.iloc[found] if found >= 0 else None
    if row is None or not isinstance(row["image_path"], str):
        return PlainTextResponse(f"no stored image for photo {photo_id!r}", 404)
    if not thumbnail:
        path = objectstore.locate(session.ws, row["image_path"])
        if objectstore.is_url(path):  # on an object store: the bytes pass through this server
            try:
                return Response(objectstore.read_bytes(path), media_type=mimetypes.guess_type(path)[0])
            except OSError:
                return PlainTextResponse("image file missing", 404)
        return FileResponse(path) if path.is_file() else PlainTextResponse("image file missing", 404)
    data = cached_thumbnail(session.ws, row["image_path"], row["sha256"])
    if data is None:
        return PlainTextResponse(f"image of {photo_id!r} cannot be read", 404)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


def build_page(session: ReviewSession, csrf: str, queue: str, page: int, label: str, owner: str,
               page_size: int, token_query: dict) -> str:
    """The HTML of one page of a queue (filtered by label/owner), from the session's current state."""
    with session.lock:
        session.refresh()
        found = session.queue(queue)
        positions = filter_positions(session.view, found, label or None, owner or None)
        pages = -(-len(positions) // page_size)
        shown = positions[page * page_size:(page + 1) * page_size]
        rows = session.catalog.iloc[shown]
        states = session.state(rows[schema.PHOTO_ID].tolist())
        cards = [card(page * page_size + i, row, found.why.iloc[pos], states[row[schema.PHOTO_ID]],
                      _cluster(session, pos) if queue == "duplicates" else [])
                 for i, (pos, row) in enumerate(zip(shown, rows.to_dict("records")))]
        sizes = session.queue_sizes()
        labels = session.labels
    return render_page(queue=queue, sizes=sizes, cards=cards, page=page, pages=pages, total=len(positions),
                       label=label, owner=owner, labels=labels, csrf=csrf, busy=session.stage_running(),
                       user=session.user, token_query=token_query)


def _cluster(session: ReviewSession, position: int) -> list[dict]:
    """The near-duplicate cluster (or exact-duplicate group) of the photo at `position`, kept first."""
    members = session.cluster_positions(position)[:MAX_CLUSTER_SHOWN]
    status = session.catalog["status"].to_numpy(dtype=object)[members]
    found = [{"photo_id": pid, "status": state} for pid, state in zip(session.photo_ids[members], status)]
    return sorted(found, key=lambda m: m["status"] != "kept")
