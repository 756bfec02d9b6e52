"""The one place that talks to the Flickr REST API (requests, JSON format).

`FlickrClient.call(method, **params) -> dict` sends one GET to the REST endpoint and
returns the decoded answer, or raises:

- `UpstreamError` (exit 4) when Flickr refuses for good: invalid API key (error 100 in
  an HTTP 200 answer), another non-transient Flickr error, or a transient failure that
  outlived every retry (a body that is not JSON at all is such a transient failure: a proxy's
  or a failing front end's page, recorded with HTTP 200; the page is asked again, and after
  every retry the run stops with the page still to do, so the next run asks for it).

Politeness and robustness: a token bucket caps the call rate (Flickr allows 3,600 calls
per hour per key; every attempt, retries included, takes a token); timeouts on connect
and read; bounded retries with exponential backoff (jittered to 0.5–1× of the delay) on timeouts,
connection errors, HTTP 5xx, HTTP 429 (honouring Retry-After up to a cap), bodies that are not
JSON and Flickr's "service unavailable" codes (10, 105, 106, 201). The API key is sent as a query parameter and scrubbed
from every message this module produces.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from curate.errors import UpstreamError
from curate.ingest.flickr.pages import api_failure
from curate.ingest.http import TransientError, api_session, parse_retry_after, redact, retry_call
from curate.ingest.http import user_agent as default_user_agent

INVALID_KEY = 100
# Flickr error codes worth another try: search unavailable, service unavailable, write failed, and
# 201 "Sorry, the Flickr API service is not currently available" (recorded in
# ../shared/realdata/flickr-api-recordings; flickr-photos-api retries it too).
TRANSIENT_CODES = frozenset({10, 105, 106, 201})
DEFAULT_ENDPOINT = "https://api.flickr.com/services/rest/"


@dataclass(frozen=True)
class ApiConfig:
    """How the client behaves; FlickrOptions carries one."""

    endpoint: str = DEFAULT_ENDPOINT
    calls_per_hour: float = 3600.0
    burst: int = 1  # calls that may go out back to back; 1 = evenly spaced
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    retries: int = 5  # extra attempts after the first, for transient failures only
    backoff_base_s: float = 1.0  # attempt n waits base * 2**n, jittered to 0.5-1x (http.backoff_delay_s)
    backoff_max_s: float = 120.0
    retry_after_cap_s: float = 300.0


class TokenBucket:
    """At most `burst` calls at once and `rate_per_s` on average (thread-safe).

    With burst=1 calls are spaced >= 1/rate apart, so over any window of T seconds at most
    1 + rate*T calls go out: the hourly limit holds for every hour, not just on average.
    """

    def __init__(self, rate_per_s: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.capacity = max(1, burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(self.capacity)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            wait_s = max(0.0, (1.0 - self._tokens) / self.rate_per_s)
            self._tokens -= 1.0  # may go negative: the wait below pays it back
            if wait_s:
                self._sleep(wait_s)
            return wait_s


MIN_KEY_FRAGMENT = 8  # shorter pieces of the key are too common to scrub (and reveal little)


@functools.lru_cache(maxsize=8)
def key_pattern(key: str) -> re.Pattern:
    """A regex matching `key` and its truncated copies (>= MIN_KEY_FRAGMENT leading or trailing
    characters), any letter case, each character also as its %XX escape.

    >>> key_pattern("0123456789abcdef").sub("<key>", "api_key=0123456789ABCDEF&x=%30%31%32%33%34%35%36%37")
    'api_key=<key>&x=<key>'
    """
    chars = [_char_pattern(ch) for ch in key]
    least = min(MIN_KEY_FRAGMENT, len(chars))
    prefix = "".join(chars[:least]) + "".join(f"(?:{c}" for c in chars[least:]) + ")?" * (len(chars) - least)
    tail = len(chars) - least
    suffix = "(?:" * tail + ")?".join(chars[:tail]) + (")?" if tail else "") + "".join(chars[tail:])
    return re.compile(f"(?:{prefix})|(?:{suffix})", re.IGNORECASE)


def _char_pattern(ch: str) -> str:
    """One character of the key, or its %XX escape (UTF-8 bytes)."""
    return f"(?:{re.escape(ch)}|{''.join(f'%{byte:02X}' for byte in ch.encode('utf-8'))})"


class FlickrClient:
    """A Flickr REST client for one API key; use as a context manager to close its session."""

    def __init__(self, api_key: str, config: ApiConfig | None = None, user_agent: str | None = None):
        self.config = config or ApiConfig()
        self._key = api_key
        # The bucket lets burst + rate*T calls into any T-second window: a rate of (N - burst) per hour
        # keeps every hour at N calls or fewer (the limit), not N + burst.
        per_hour = max(1.0, self.config.calls_per_hour - self.config.burst)
        self.bucket = TokenBucket(per_hour / 3600.0, self.config.burst)
        self.calls = 0  # HTTP requests sent, retries included
        self.session = api_session(user_agent or default_user_agent())
        self._proxies = requests.utils.get_environ_proxies(self.config.endpoint)

    def __enter__(self) -> FlickrClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.close()

    def scrub(self, text: str) -> str:
        """`text` without the API key: as a query parameter or anywhere else, in any letter
        case, %-encoded, or cut short (a copy of at least 8 of its first or last characters)."""
        text = redact(text)
        return key_pattern(self._key).sub("<api key>", text) if self._key else text

    def call(self, method: str, **params: object) -> dict:
        """One API method, retried on transient failures; see the module docstring."""
        config = self.config
        attempts = config.retries + 1
        try:
            return retry_call(lambda: self._attempt(method, params), attempts, backoff_base_s=config.backoff_base_s,
                              backoff_max_s=config.backoff_max_s, retry_after_cap_s=config.retry_after_cap_s)
        except TransientError as failure:
            raise UpstreamError(f"Flickr API {method} failed {attempts} times, last: {self.scrub(failure.detail)}; "
                                "check the network or proxy (HTTPS_PROXY), or pass --endpoint for a server that "
                                "answers like the Flickr API; then run the same command again (it resumes where it "
                                "stopped)") from None

    def _attempt(self, method: str, params: dict) -> dict:
        query = {"method": method, "api_key": self._key, "format": "json", "nojsoncallback": "1",
                 **{name: value for name, value in params.items() if value is not None}}
        self.bucket.acquire()
        self.calls += 1
        timeout = (self.config.connect_timeout_s, self.config.read_timeout_s)
        try:
            response = self.session.get(self.config.endpoint, params=query, timeout=timeout,
                                        proxies=self._proxies)
        except requests.Timeout:
            raise TransientError("timed out waiting for the API") from None
        except requests.RequestException as exc:
            raise TransientError(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
        if status != 200:
            raise UpstreamError(f"Flickr API {method} answered HTTP {status}; check --endpoint")
        try:
            payload = json.loads(response.content)
        except ValueError:  # a proxy's or a failing front end's page (recorded: XML-ish text on HTTP 200)
            raise TransientError(f"{method} answer is not JSON ({len(response.content)} bytes)") from None
        failure = api_failure(payload)
        if failure is None:
            return payload
        code, message = failure
        if code in TRANSIENT_CODES:
            raise TransientError(f"Flickr error {code}: {message}")
        if code == INVALID_KEY:
            raise UpstreamError(f"Flickr rejected the API key (error 100: {self.scrub(message)}); "
                                "set FLICKR_API_KEY to a valid key")
        raise UpstreamError(f"Flickr API {method} failed with error {code}: {self.scrub(message)}")
