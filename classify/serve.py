"""`classify serve RUN`: a small HTTP service around a trained run (FastAPI + uvicorn).

Endpoints: `POST /predict` (multipart field `file`, optional query `top_k`),
`GET /health`, interactive docs at `/docs` (`GET /` leads there; OpenAPI schema at `/openapi.json`).

Bad uploads get a status code and a JSON `{"detail": "..."}` saying what was wrong:

    413  the request body is over `max_upload_bytes` — refused from Content-Length before
         reading, and also cut off while reading by counting the bytes received (a chunked
         upload has no Content-Length); or the image header claims more pixels than
         curate.imageformats.pixel_limit allows its format (80 MP; a JPEG, which decodes
         at a reduced scale, 250 MP): a decompression bomb, refused before decoding
    415  the bytes are not an image (the declared content type is ignored; bytes are sniffed)
    422  an image that cannot be used: empty, truncated, under 32 px, or animated;
         or the request has no `file` field, or a bad `top_k` (the detail is one line
         naming the field, not FastAPI's list of errors)
    503  more than `max_pending` uploads are already waiting or decoding: retry later
         (the answer carries Retry-After)

Memory is bounded whatever the uploads: each image is decoded once, straight to the
model's input size (`classify.decode`: JPEG draft mode; other formats resized as soon as
they are decoded), on a pool of `decode_threads` threads; the full-size buffers of
decodes in flight share a `decode_budget_bytes` budget (a decode waits until its bytes,
known from the header, fit); at most `max_pending` requests are admitted, the rest get 503.
The forward pass runs on one thread of its own, so requests never share the model
mid-batch, and the event loop stays free: `/health` answers while uploads decode.

Topic gate (`classify.gate`, on by default when the run has one; `--no-gate` to leave it out):
the same forward pass gives the pooled features, and each answer also carries
`"topic_score"` (P(on topic)) and `"off_topic": true` below the gate's threshold.

Access log: uvicorn's, with `access_log_config()`: credentials in a request's URL (a query
value named like api_key, token, signature...) are masked before the line is written.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations, which name
# classes imported inside create_app, so they must be evaluated where the endpoint is defined.
import asyncio
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel
from starlette.exceptions import HTTPException

from classify.decode import MemoryBudget, decode_for_model
from curate.imageformats import MAX_JPEG_PIXELS
from curate.settings_fields import SettingError, setting
from curate.store import MAX_PIXELS, BadImage
from curate.webservice import BodyLimit, validation_line

MiB = 1 << 20
DEFAULT_MAX_UPLOAD_BYTES = 20 * MiB
DEFAULT_DECODE_BUDGET_BYTES = 640 * 10**6  # two worst-case decodes: MAX_PIXELS x 4 bytes each
DEFAULT_MAX_PENDING = 64  # requests decoding or waiting to; more get 503
DEFAULT_DECODE_THREADS = min(4, os.cpu_count() or 1)
API_NOTES = ("Upload one image to `POST /predict` as the multipart field `file`. Errors: 413 upload too large "
             "or decompression bomb; 415 not an image, or a HEIC without pillow-heif installed; 422 empty, "
             "truncated, too small or animated image; "
             "503 too many uploads in progress (retry after the Retry-After seconds).")
STATUS_BY_REASON = {"decompression_bomb": 413, "not_an_image": 415, "unsupported_format": 415}  # others: 422


class Prediction(BaseModel):
    label: str
    probability: float


class ModelFacts(BaseModel):
    backbone: str
    classes: int


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model: ModelFacts
    off_topic: bool | None = None  # with the run's topic gate: below its threshold (left out without a gate)
    topic_score: float | None = None  # with the gate: P(on topic) from the same forward pass


class Health(BaseModel):
    status: str
    classes: list[str]
    backbone: str
    gate_threshold: float | None = None  # with the topic gate (answers carry off_topic / topic_score)


def http_error(error: BadImage) -> HTTPException:
    """The HTTP status and message for an upload that is not a usable image."""
    if error.reason == "decompression_bomb":
        message = (f"image refused as a decompression bomb ({error.detail}); the limit is {MAX_JPEG_PIXELS:,} "
                   f"pixels for a JPEG, {MAX_PIXELS:,} for other formats")
    elif error.reason == "not_an_image":
        message = "the upload is not an image; send a JPEG, PNG, WebP, HEIC, AVIF, GIF, TIFF or BMP file"
    else:
        message = f"the image cannot be used ({error}); send a complete, still photo at least 32 px a side"
    return HTTPException(STATUS_BY_REASON.get(error.reason, 422), message)


@dataclass(frozen=True)
class ServeLimits:
    """What one server may hold at once (see the module docstring)."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    decode_budget_bytes: int = DEFAULT_DECODE_BUDGET_BYTES
    max_pending: int = DEFAULT_MAX_PENDING
    decode_threads: int = DEFAULT_DECODE_THREADS

    def __post_init__(self):
        if min(self.max_upload_bytes, self.decode_budget_bytes, self.max_pending, self.decode_threads) < 1:
            raise SettingError("{max_upload_mb} and {decode_budget_mb} must be positive, {max_pending} and "
                               "{decode_threads} at least 1", "max_upload_mb", "decode_budget_mb", "max_pending",
                               "decode_threads")


@dataclass(frozen=True)
class ServeSettings:
    """`classify serve`'s settings, one flag each (curate.settings_fields)."""

    host: str = setting("127.0.0.1", help="Interface to listen on; 0.0.0.0 for every one.")
    port: int = setting(8000, help="TCP port.")
    device: str = setting("auto", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")
    max_upload_mb: float = setting(DEFAULT_MAX_UPLOAD_BYTES / MiB, help="Largest request body accepted.")
    top_k: int = setting(3, help="Labels per answer unless ?top_k= says otherwise.")
    decode_budget_mb: float = setting(DEFAULT_DECODE_BUDGET_BYTES / 10**6, help=(
        "Full-size decode buffers allowed at once, all requests together."))
    max_pending: int = setting(DEFAULT_MAX_PENDING, help="Uploads decoding or waiting at once; more are answered 503.")
    decode_threads: int = setting(DEFAULT_DECODE_THREADS, help="Images decoded in parallel.")
    gate: bool = setting(True, flag="--gate/--no-gate", help=(
        "Say off_topic and topic_score from the run's topic gate (default); --no-gate: the classifier alone."))

    def __post_init__(self):
        if self.top_k < 1:
            raise SettingError(f"{{top_k}} must be at least 1, got {self.top_k}", "top_k")
        if not 1 <= self.max_upload_mb * MiB < math.inf:
            raise SettingError(f"{{max_upload_mb}} must be a finite number of at least one byte, got "
                               f"{self.max_upload_mb}", "max_upload_mb")
        if not 0 <= self.port <= 65535:
            raise SettingError(f"{{port}} must be within 0-65535, got {self.port}", "port")
        if not 1 <= self.decode_budget_mb * 10**6 < math.inf:
            raise SettingError(f"{{decode_budget_mb}} must be a finite number of at least one byte, got "
                               f"{self.decode_budget_mb}", "decode_budget_mb")
        self.limits()

    def limits(self) -> ServeLimits:
        """The server's limits in bytes."""
        return ServeLimits(max_upload_bytes=int(self.max_upload_mb * MiB),
                           decode_budget_bytes=int(self.decode_budget_mb * 10**6), max_pending=self.max_pending,
                           decode_threads=self.decode_threads)


class MaskedAccessLog(logging.Filter):
    """Masks credentials in the request lines of uvicorn's access log (`curate.objectstore.mask_secrets`):
    a client or gateway that puts `?api_key=...` in the URL must not have it written to the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from curate.objectstore import mask_secrets

        if isinstance(record.args, tuple):
            record.args = tuple(mask_secrets(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


def access_log_config() -> dict:
    """uvicorn's default logging configuration, with `MaskedAccessLog` on its access log."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_secrets"] = {"()": MaskedAccessLog}
    config["loggers"]["uvicorn.access"]["filters"] = ["mask_secrets"]
    return config


class Admission:
    """Counts requests in progress; `enter()` is False once `limit` are (answered 503).

    Only touched from the event loop, so a plain counter is enough."""

    def __init__(self, limit: int):
        self.limit, self.pending = limit, 0

    def enter(self) -> bool:
        if self.pending >= self.limit:
            return False
        self.pending += 1
        return True

    def leave(self) -> None:
        self.pending -= 1


def create_app(predictor, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, top_k: int = 3,
               limits: ServeLimits | None = None, gate=None) -> "FastAPI":  # noqa: F821
    """A FastAPI app serving `predictor` (a `classify.model.Predictor`).

    `limits` bounds memory and queueing (its max_upload_bytes wins over the argument).
    `gate` (`classify.gate.Gate`): answers also say `off_topic` and `topic_score`, from the
    same forward pass as the labels (`classify.predict.classify_batch`).

    Serving a trained run (what `classify serve` does)::

        app = create_app(Predictor(Path("runs/skylines")), max_upload_bytes=5 * MiB)
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    from fastapi import FastAPI

    limits = limits or ServeLimits(max_upload_bytes=max_upload_bytes)
    facts = ModelFacts(backbone=predictor.meta.backbone, classes=len(predictor.classes))
    app = FastAPI(title="classify", summary=f"Image classifier: {facts.backbone}, {facts.classes} classes",
                  description=API_NOTES)
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes, advice="send a smaller image")
    _add_error_shape(app)
    _add_routes(app, predictor, facts, top_k, limits, gate)
    return app


def validation_detail(errors: list[dict]) -> str:
    """FastAPI's list of validation errors as one readable line (`curate.webservice.validation_line`), a text
    `file` field (not a file part) said as such.

    >>> validation_detail([{"type": "missing", "loc": ("body", "file"), "msg": "Field required"}])
    'the multipart field `file` is missing: upload one image as the multipart field `file`'
    >>> validation_detail([{"type": "value_error", "loc": ("body", "file"), "input": "hello", "msg": "Value error"}])
    'the multipart field `file` holds text, not a file: upload the image as a file (curl -F file=@photo.jpg)'
    """
    if any(list(map(str, error.get("loc", ()))) == ["body", "file"] and isinstance(error.get("input"), str)
           and error.get("type") != "missing" for error in errors):  # a form field, not a file part
        return "the multipart field `file` holds text, not a file: upload the image as a file (curl -F file=@photo.jpg)"
    return validation_line(errors, "multipart field", {"file": ": upload one image as the multipart field `file`"})


def form_detail(detail: str) -> str:
    """An error's detail, with the form parser's own texts (Starlette's) said in this API's words.

    >>> form_detail("Missing boundary in multipart.")
    'the multipart body has no boundary: upload one image as the multipart field `file` (curl -F file=@photo.jpg)'
    >>> form_detail("Too many fields. Maximum number of fields is 1000.")
    'the form holds too many parts: upload one image as the multipart field `file` and nothing else'
    >>> form_detail("Part exceeded maximum size of 1024KB.")[:37]
    'a text field of the form is over 1 MB'
    >>> form_detail("the upload is empty")
    'the upload is empty'
    """
    if detail.startswith("Missing boundary"):
        return ("the multipart body has no boundary: upload one image as the multipart field `file` "
                "(curl -F file=@photo.jpg)")
    if detail.startswith(("Too many fields", "Too many files")):
        return "the form holds too many parts: upload one image as the multipart field `file` and nothing else"
    if detail.startswith("Part exceeded maximum size"):
        return "a text field of the form is over 1 MB: upload the image as a file part (curl -F file=@photo.jpg)"
    if detail.startswith("Invalid multipart"):
        return "the multipart body is malformed: upload one image as the multipart field `file`"
    return detail


def _add_error_shape(app) -> None:
    """Every error answers `{"detail": "<one line>"}` (FastAPI answers a list of dicts for a bad
    request), and `GET /` leads to the interactive docs."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, RedirectResponse

    @app.exception_handler(RequestValidationError)
    async def one_line(request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(list(exc.errors()))}, status_code=422)

    @app.exception_handler(HTTPException)
    async def framework_words(request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": form_detail(str(exc.detail))}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")


def _add_routes(app, predictor, facts: ModelFacts, default_top_k: int, limits: ServeLimits, gate=None) -> None:
    from fastapi import File, Query, Request, UploadFile  # imported here: keeps `classify --help` fast

    from classify.predict import classify_batch

    decode_pool = ThreadPoolExecutor(limits.decode_threads, thread_name_prefix="decode")
    model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")  # one forward pass at a time
    budget, admission = MemoryBudget(limits.decode_budget_bytes), Admission(limits.max_pending)

    def decode(upload) -> object:
        upload.seek(0)
        return decode_for_model(upload.read(), predictor.preprocess, budget)

    @app.get("/health", response_model_exclude_none=True)
    async def health() -> Health:
        """The model's classes and backbone; answers as soon as the model is loaded."""
        return Health(status="ok", classes=predictor.classes, backbone=facts.backbone,
                      gate_threshold=None if gate is None else gate.threshold)

    @app.post("/predict", responses={413: {"description": "Upload too large, or a decompression bomb"},
                                     415: {"description": "Not an image"},
                                     422: {"description": "Empty, truncated, too small or animated image"},
                                     503: {"description": "Too many uploads in progress; retry later"}},
              response_model_exclude_none=True)
    async def predict(
        request: Request,
        file: Annotated[UploadFile, File(description="One image: JPEG, PNG, WebP, GIF, TIFF or BMP.")],
        top_k: Annotated[int | None, Query(ge=1, description=f"Labels to return (default {default_top_k}).")] = None,
    ) -> PredictResponse:
        """The most probable labels for one uploaded image, most probable first."""
        several = len((await request.form()).getlist("file"))  # the form is parsed already: no second read
        if several > 1:  # the framework would quietly take the last one
            raise HTTPException(422, f"{several} files in the multipart field `file`: send one image per request")
        if not admission.enter():
            raise HTTPException(503, f"{limits.max_pending} uploads are already in progress; retry in a "
                                     "few seconds", headers={"Retry-After": "2"})
        loop = asyncio.get_running_loop()
        try:
            image = await loop.run_in_executor(decode_pool, decode, file.file)
            probabilities, topic = await loop.run_in_executor(model_pool, classify_batch, predictor, [image], gate)
        except BadImage as exc:
            raise http_error(exc) from None
        finally:
            admission.leave()
        ranked = predictor.top_k(probabilities, top_k or default_top_k)[0]
        gated = {} if gate is None else {"topic_score": float(topic[0]), "off_topic": bool(topic[0] < gate.threshold)}
        return PredictResponse(predictions=[Prediction(label=label, probability=p) for label, p in ranked],
                               model=facts, **gated)


