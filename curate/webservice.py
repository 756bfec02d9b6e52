"""What the local web services (`curate review`, `classify serve`) share: a request-body limit (ASGI
middleware) and the framework's validation errors said in one line."""

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


def validation_line(errors: list[dict], body: str = "request body field", hints: dict | None = None) -> str:
    """FastAPI's list of validation errors as one readable line (what `{"detail": ...}` says). `body`: what a
    body field is called (a JSON field, a multipart field); `hints`: advice added when a named field is missing.

    >>> validation_line([{"type": "missing", "loc": ("body", "action"), "msg": "Field required"}], "JSON field")
    'the JSON field `action` is missing'
    >>> validation_line([{"type": "greater_than_equal", "loc": ("query", "top_k"), "input": "0",
    ...                   "msg": "Input should be greater than or equal to 1"}])
    "the query parameter `top_k` is invalid: input should be greater than or equal to 1 (got '0')"
    >>> validation_line([{"type": "json_invalid", "loc": ("body", 12), "msg": "JSON decode error"}])
    'the request body is not valid JSON (near character 12)'
    """
    kinds = {"body": body, "query": "query parameter", "path": "path parameter", "header": "header"}
    parts = []
    for error in errors:
        where, *name = [str(part) for part in error.get("loc", ("request",))]
        if error.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON" + (f" (near character {name[0]})" if name else ""))
            continue
        field = f"the {kinds.get(where, where)} `{'.'.join(name) or where}`"
        if error.get("type") == "missing":
            parts.append(f"{field} is missing" + (hints or {}).get(".".join(name), ""))
        else:
            message = str(error.get("msg", "invalid value"))
            got = f" (got {error['input']!r})" if "input" in error and not isinstance(error["input"], bytes | dict) \
                else ""
            parts.append(f"{field} is invalid: {message[:1].lower()}{message[1:]}{got}")
    return "; ".join(parts) or "the request is invalid"
