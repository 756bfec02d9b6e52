"""A request-body limit for the local web services (`curate review`, `classify serve`): ASGI middleware."""

from __future__ import annotations

from starlette.exceptions import HTTPException

MiB = 1 << 20


class BodyTooLarge(HTTPException):
    """413. An HTTPException, so FastAPI's body parsing re-raises it instead of answering 400."""

    def __init__(self, max_bytes: int, advice: str):
        super().__init__(413, f"request body is over the {max_bytes:,}-byte limit ({max_bytes / MiB:.3g} MiB); "
                              f"{advice}")


class BodyLimit:
    """ASGI middleware refusing request bodies over `max_bytes` with 413 (`advice` says what to send instead).

    Checks Content-Length before reading anything, and counts the bytes actually received, so a chunked body
    (or a lying Content-Length) is cut off at the limit instead of being read whole.
    """

    def __init__(self, app, max_bytes: int, advice: str = "send less"):
        self.app = app
        self.max_bytes = max_bytes
        self.advice = advice

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
                raise BodyTooLarge(self.max_bytes, self.advice)
            return message

        async def watching_send(message):
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:  # normally answered by FastAPI's handler; this is the fallback
            if response_started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        from starlette.responses import JSONResponse

        error = BodyTooLarge(self.max_bytes, self.advice)
        await JSONResponse({"detail": error.detail}, status_code=413)(scope, receive, send)
