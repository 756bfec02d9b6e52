"""`classify serve RUN`: a small HTTP service around a trained run (FastAPI + uvicorn).

Endpoints: `POST /predict` (multipart field `file`, optional query `top_k`),
`GET /health`, interactive docs at `/docs` (OpenAPI schema at `/openapi.json`).

Bad uploads get a status code and a JSON `{"detail": "..."}` saying what was wrong:

    413  the request body is over `max_upload_bytes` — refused from Content-Length before
         reading, and also cut off while reading by counting the bytes received (a chunked
         upload has no Content-Length); or the image header claims more pixels than
         curate.store.MAX_PIXELS (a decompression bomb), refused before decoding
    415  the bytes are not an image (the declared content type is ignored; bytes are sniffed)
    422  an image that cannot be used: empty, truncated, under 32 px, or animated;
         or the request has no `file` field

Decoding runs in FastAPI's thread pool (the endpoint is a plain `def`), in parallel; the
forward pass holds a lock, so concurrent requests never share the model mid-batch.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations, which name
# classes imported inside create_app, so they must be evaluated where the endpoint is defined.
import math
import threading
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from classify.predict import decode_rgb
from curate.cli.common import user_errors
from curate.console import console
from curate.errors import UsageError
from curate.store import MAX_PIXELS, BadImage

MiB = 1 << 20
DEFAULT_MAX_UPLOAD_BYTES = 20 * MiB
API_NOTES = ("Upload one image to `POST /predict` as the multipart field `file`. Errors: 413 upload too large "
             "or decompression bomb; 415 not an image; 422 empty, truncated, too small or animated image.")
STATUS_BY_REASON = {"decompression_bomb": 413, "not_an_image": 415}  # every other BadImage reason: 422


class Prediction(BaseModel):
    label: str
    probability: float


class ModelFacts(BaseModel):
    backbone: str
    classes: int


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model: ModelFacts


class Health(BaseModel):
    status: str
    classes: list[str]
    backbone: str


class UploadTooLarge(HTTPException):
    """413. An HTTPException, so FastAPI's body parsing re-raises it instead of answering 400."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"upload is over the {max_bytes:,}-byte limit ({max_bytes / MiB:.3g} MiB); "
                              "send a smaller image")


class UploadLimit:
    """ASGI middleware refusing request bodies over `max_bytes` with 413.

    Checks Content-Length before reading anything, and counts the bytes actually
    received, so a chunked upload (or a lying Content-Length) is cut off at the limit
    instead of being spooled to disk whole.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        received = 0
        response_started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise UploadTooLarge(self.max_bytes)
            return message

        async def watching_send(message):
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except UploadTooLarge:  # normally answered by FastAPI's handler; this is the fallback
            if response_started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        from starlette.responses import JSONResponse

        error = UploadTooLarge(self.max_bytes)
        await JSONResponse({"detail": error.detail}, status_code=413)(scope, receive, send)


def http_error(error: BadImage) -> HTTPException:
    """The HTTP status and message for an upload that is not a usable image."""
    if error.reason == "decompression_bomb":
        message = f"image refused as a decompression bomb ({error.detail}); the limit is {MAX_PIXELS:,} pixels"
    elif error.reason == "not_an_image":
        message = "the upload is not an image; send a JPEG, PNG, WebP, GIF, TIFF or BMP file"
    else:
        message = f"the image cannot be used ({error}); send a complete, still photo at least 32 px a side"
    return HTTPException(STATUS_BY_REASON.get(error.reason, 422), message)


def create_app(predictor, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, top_k: int = 3) -> "FastAPI":  # noqa: F821
    """A FastAPI app serving `predictor` (a `classify.model.Predictor`).

    >>> app = create_app(Predictor(Path("runs/skylines")), max_upload_bytes=5 * MiB)  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    from fastapi import FastAPI, File, Query, UploadFile  # imported here: keeps `classify --help` fast

    default_top_k = top_k
    model_lock = threading.Lock()  # one forward pass at a time; decoding stays parallel
    facts = ModelFacts(backbone=predictor.meta.backbone, classes=len(predictor.classes))
    app = FastAPI(title="classify", summary=f"Image classifier: {facts.backbone}, {facts.classes} classes",
                  description=API_NOTES)
    app.add_middleware(UploadLimit, max_bytes=max_upload_bytes)

    @app.get("/health")
    def health() -> Health:
        """The model's classes and backbone; answers as soon as the model is loaded."""
        return Health(status="ok", classes=predictor.classes, backbone=facts.backbone)

    @app.post("/predict", responses={413: {"description": "Upload too large, or a decompression bomb"},
                                     415: {"description": "Not an image"},
                                     422: {"description": "Empty, truncated, too small or animated image"}})
    def predict(
        file: Annotated[UploadFile, File(description="One image: JPEG, PNG, WebP, GIF, TIFF or BMP.")],
        top_k: Annotated[int | None, Query(ge=1, description=f"Labels to return (default {default_top_k}).")] = None,
    ) -> PredictResponse:
        """The most probable labels for one uploaded image, most probable first."""
        try:
            image = decode_rgb(file.file.read(), predictor.preprocess)
        except BadImage as exc:
            raise http_error(exc) from None
        with model_lock:
            probabilities = predictor.probabilities([image])
        ranked = predictor.top_k(probabilities, top_k or default_top_k)[0]
        return PredictResponse(predictions=[Prediction(label=label, probability=p) for label, p in ranked],
                               model=facts)

    return app


def check_listen(host: str, port: int) -> None:
    """UsageError (one line) when the service could not listen on host:port (in use, unknown host)."""
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as exc:  # socket.gaierror too
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
                         "or --host") from None


@user_errors
def serve(
    run: Annotated[Path, typer.Argument(help="Run directory from `classify train` (model.safetensors + model.json).")],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; 0.0.0.0 for every one.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")] = "auto",
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest request body accepted.")] = 20,
    top_k: Annotated[int, typer.Option("--top-k", help="Labels per answer unless ?top_k= says otherwise.")] = 3,
) -> None:
    """Serve a trained run over HTTP: POST /predict, GET /health, docs at /docs."""
    import uvicorn

    from classify.model import Predictor

    if top_k < 1 or not 1 <= max_upload_mb * MiB < math.inf or not 0 <= port <= 65535:
        raise UsageError("--top-k must be at least 1, --max-upload-mb at least one byte (finite), "
                         "--port within 0-65535")
    predictor = Predictor(run, device)
    check_listen(host, port)  # else uvicorn logs the error and exits with its own code, 3
    app = create_app(predictor, max_upload_bytes=int(max_upload_mb * MiB), top_k=top_k)
    url = f"http://{host}:{port}"
    console.print(f"serving {run} ({predictor.meta.backbone}, {len(predictor.classes)} classes, "
                  f"{predictor.device}) at {url} — docs at {url}/docs", highlight=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
