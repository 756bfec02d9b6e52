"""The one network client for the Wikimedia Commons API (api.php). Image bytes go through
`curate.ingest.http.Downloader`; nothing else in curate talks to the API.

Etiquette (https://www.mediawiki.org/wiki/API:Etiquette): requests are strictly serial
(one lock, one session), carry a descriptive User-Agent and `maxlag`, and back off on
`maxlag` / `ratelimited` errors, 429, 5xx, timeouts, connection failures and answers that
are not the JSON asked for, honouring Retry-After (capped). Anything else the API
refuses, or a failure that outlives the retries, is an UpstreamError (exit 4).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from curate.errors import UpstreamError, UsageError
from curate.ingest.http import TransientError, api_session, is_http_url, parse_retry_after, retry_call

log = logging.getLogger(__name__)

# API error codes that mean "not now" rather than "never".
RETRYABLE_ERRORS = frozenset({"maxlag", "ratelimited", "readonly", "actionthrottledtext"})  # + internal_api_error_*
MAXLAG_DEFAULT_WAIT_S = 5.0  # what MediaWiki sends as Retry-After for maxlag


class CommonsClient:
    """Serial GETs against one api.php endpoint, with retries; use as a context manager."""

    def __init__(self, endpoint: str, user_agent: str, *, maxlag_s: int = 5, timeout_s: float = 30.0,
                 retries: int = 5, backoff_base_s: float = 2.0, backoff_max_s: float = 60.0,
                 retry_after_cap_s: float = 120.0):
        if not is_http_url(endpoint):
            raise UsageError(f"--endpoint {endpoint!r} is not an http(s) URL of an api.php")
        self.endpoint = endpoint
        self.maxlag_s = maxlag_s
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_cap_s = retry_after_cap_s
        self.requests_made = 0
        self._lock = threading.Lock()  # strictly serial, even if a caller shares the client
        self.session = api_session(user_agent)
        self._proxies = requests.utils.get_environ_proxies(endpoint)

    def __enter__(self) -> CommonsClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.close()

    def query(self, params: dict[str, str], validate: Callable[[dict], object] | None = None) -> dict:
        """The decoded answer to one API request, retried until it is good or retries run out.

        `validate(payload)` may raise ValueError for an answer of the wrong shape; that
        counts as a transient failure (a truncated or garbled page) like a 5xx.
        """
        params = {**params, "maxlag": str(self.maxlag_s)}
        attempts = self.retries + 1

        def attempt() -> dict:
            payload = self._get(params)
            if validate is not None:
                try:
                    validate(payload)
                except ValueError as exc:
                    raise TransientError(f"malformed answer ({exc})") from None
            return payload

        def tell(failure: TransientError, failed: int, wait_s: float) -> None:
            log.warning(f"Commons API: {failure.detail}; waiting {wait_s:.1f} s (attempt {failed + 1} of {attempts})")

        try:
            return retry_call(attempt, attempts, backoff_base_s=self.backoff_base_s, backoff_max_s=self.backoff_max_s,
                              retry_after_cap_s=self.retry_after_cap_s, on_retry=tell)
        except TransientError as failure:
            raise UpstreamError(f"Commons API at {self.endpoint} still failing after {attempts} attempts "
                                f"({failure.detail}); check the network or proxy (HTTPS_PROXY), then run the same "
                                "command again: it resumes where it stopped") from None

    def _get(self, params: dict[str, str]) -> dict:
        """One request; raises TransientError for what is worth retrying, UpstreamError otherwise."""
        with self._lock:
            self.requests_made += 1
            try:
                response = self.session.get(self.endpoint, params=params, timeout=self.timeout_s,
                                            proxies=self._proxies)
                body = response.content
            except requests.Timeout:
                raise TransientError("timed out") from None
            except requests.RequestException as exc:
                raise TransientError(f"connection failed ({type(exc).__name__})") from None
        retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status}", retry_after_s)
        if status >= 300:
            raise UpstreamError(f"Commons API at {self.endpoint} answered HTTP {status}; check --endpoint "
                                "(and that the User-Agent names a contact, see --contact)")
        try:
            payload = response.json() if body else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise TransientError("malformed answer (not a JSON object)", retry_after_s)
        error = payload.get("error")
        if isinstance(error, dict):
            code = str(error.get("code", "unknown"))
            info = " ".join(str(error.get("info", "")).split())[:200]
            if code in RETRYABLE_ERRORS or code.startswith("internal_api_error"):
                wait_s = retry_after_s if retry_after_s is not None else \
                    MAXLAG_DEFAULT_WAIT_S if code == "maxlag" else None
                raise TransientError(f"API error {code}: {info}", wait_s)
            raise UpstreamError(f"Commons API refused the query ({code}: {info})")
        return payload
