"""The one HTTP client for image downloads.

`Downloader.download(url) -> bytes` either returns the whole body of a 2xx response or
raises `curate.ingest.engine_job.FetchError` whose `reason` becomes the row's drop_reason:

    bad_url            not an http(s) URL with a host
    http_404           not found
    http_4xx / http_3xx  other client errors / a redirect that could not be followed
    http_429 / http_5xx  rate limited / server error (retried first)
    timeout            connect or read timeout, or the attempt outlived its deadline (retried)
    connection_error   refused, reset, DNS failure, truncated body (retried)
    too_large          the body is over `max_bytes` (declared or while streaming)
    too_many_redirects

What makes it polite and robust: one `requests.Session` whose connection pool is sized
to the workers; at most `per_host` requests in flight per host (a semaphore per
scheme://host:port); bounded retries with exponential backoff and jitter, honouring a
server's Retry-After up to a cap; a descriptive User-Agent; cookies never stored (the
session is shared by threads). Error details never carry secrets: a query string that
holds a key-like parameter (api_key, token, secret, ...) is replaced by `?<redacted>`.

The retry loop is ours rather than urllib3's `Retry` because a streamed body can time
out or overrun the size cap after the headers arrived (urllib3 never sees that), and
because Retry-After must be capped and the last failure's reason reported per row.
"""

from __future__ import annotations

import math
import os
import random
import re
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.cookiejar import DefaultCookiePolicy
from importlib import metadata
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from curate.errors import UpstreamError
from curate.ingest.engine_job import FetchError, IngestReport
from curate.redact import is_secret_name, redact_text
from curate.settings_fields import SettingError, setting

MAX_TIMEOUT_S = 3600.0  # an hour between two bytes is a dead server, not a slow one
# Failures worth trying again later: a re-run of `curate ingest urls` retries these rows.
TRANSIENT_REASONS = frozenset({"timeout", "connection_error", "http_5xx", "http_429"})


def transient_failures(dropped_by_reason: dict[str, int]) -> int:
    """Rows of a run dropped for a reason a re-run retries (timeout, reset, 5xx, 429)."""
    return sum(count for reason, count in dropped_by_reason.items() if reason in TRANSIENT_REASONS)


def check_some_download_worked(report: IngestReport) -> None:
    """UpstreamError (exit 4) when an ingest run tried downloads, every one it tried failed for a
    transient reason, and none of its rows has an image stored (from this run or an earlier one): the
    network or a proxy is down, not the photos. Rows dropped before any download (no URL, a repeated id)
    do not count. The rows are in the catalog already (with their drop reasons), so the same command
    retries them once the network is back. A re-run whose retries of a few failing URLs fail again, beside
    images an earlier run stored, is no outage (an audit's cron-like re-run exited 4 pointing at a proxy):
    its note counts the failures, retried next time."""
    failed = transient_failures(report.dropped_by_reason)
    if report.fetched and failed >= report.fetched and not report.stored:
        error = UpstreamError(f"no image could be downloaded: all {report.fetched:,} downloads this run failed "
                              f"({counts(report.dropped_by_reason, TRANSIENT_REASONS)}); check the network or proxy "
                              "(HTTPS_PROXY), then run the same command again to retry them")
        error.result = asdict(report)  # `--json` still prints what the run did (the rows are in the catalog)
        raise error


def counts(by_reason: dict[str, int], reasons: frozenset[str]) -> str:
    """'1,633 connection_error, 2 timeout': the counts of `reasons` in `by_reason`, largest first."""
    chosen = sorted(((n, r) for r, n in by_reason.items() if r in reasons and n), key=lambda item: (-item[0], item[1]))
    return ", ".join(f"{n:,} {reason}" for n, reason in chosen)

_QUERY_RE = re.compile(r"\?[^\s'\"()<>]*")
_ERRNO_RE = re.compile(r"\[Errno -?\d+\][^'\"()]*")
T = TypeVar("T")


def user_agent() -> str:
    try:
        version = metadata.version("curate-photos")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"curate-photos/{version} (photo dataset curation; polite bulk image downloader) " \
           f"python-requests/{requests.__version__}"


@dataclass(frozen=True)
class DownloadConfig:
    """How the downloader behaves: the download flags of `curate ingest urls/flickr/commons` and
    the download keys of their [[sources]] tables, one field each (curate.settings_fields)."""

    workers: int = setting(16, help="Concurrent downloads (threads sharing the connection pool).")
    per_host: int = setting(4, help="Concurrent downloads per host (politeness).")
    connect_timeout_s: float = setting(10.0, flag="--timeout", help="Connect timeout, seconds.")
    read_timeout_s: float = setting(20.0, flag="--timeout", help="Read timeout between bytes, seconds.")
    attempt_deadline_s: float = setting(120.0, help="Most seconds one attempt may take, headers and whole body.")
    retries: int = setting(3, help="Retries for 5xx, 429, timeouts, resets (extra attempts after the first).")
    backoff_base_s: float = setting(0.5, help="Attempt n waits about this x 2**n seconds (with jitter).")
    backoff_max_s: float = setting(30.0, help="Longest wait between attempts, seconds.")
    retry_after_cap_s: float = setting(60.0, help="Longest wait a Retry-After header may ask for, seconds.")
    max_bytes: int = setting(50 * 1024 * 1024, help="Largest image accepted, bytes.")
    max_redirects: int = setting(5, help="Most redirects followed.")
    user_agent: str = setting(default_factory=user_agent, help="User-Agent header sent with every request.")

    def __post_init__(self) -> None:
        """Refuse timeouts no socket accepts (inf, 1e308 overflow the OS's timeval: every
        download would fail) and ones that would leave a stalled server holding a worker for days."""
        for name in ("connect_timeout_s", "read_timeout_s", "attempt_deadline_s"):
            check_timeout_s(getattr(self, name), name, as_key=False)
        for name, low, high in (("workers", 1, 256), ("per_host", 1, 256), ("retries", 0, 10)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingError(f"{{{name}}} must be from {low} to {high}, got {value}", name)


def check_timeout_s(value, name: str, *, as_key: bool = True) -> None:
    """Refuse a timeout no socket accepts (inf, nan, 1e308, <= 0) or one over MAX_TIMEOUT_S; the
    SettingError names the setting `name` (its flag on the command line, its key in a recipe)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= MAX_TIMEOUT_S:
        raise SettingError(f"{{{name}}} must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, "
                           f"got {value!r}", name, as_key=as_key)


def check_range(value, name: str, low: float, high: float, *, whole: bool = False) -> None:
    """Refuse a setting outside [low, high] (NaN and inf included; `whole`: a whole number), with a
    SettingError naming it (its flag on the command line, its key in a recipe)."""
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if not number or not math.isfinite(value) or not low <= value <= high or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise SettingError(f"{{{name}}} must be {kind} from {low:g} to {high:g}, got {value!r}", name)


def check_api_retries(retries, backoff_s, backoff_max_s, retry_after_cap_s, names: tuple[str, str, str, str]) -> None:
    """An API client's retry settings: 0 to 10 retries, waits of 0 to MAX_TIMEOUT_S seconds."""
    check_range(retries, names[0], 0, 10, whole=True)
    for value, name in zip((backoff_s, backoff_max_s, retry_after_cap_s), names[1:]):
        check_range(value, name, 0, MAX_TIMEOUT_S)


class HTTPFetchError(FetchError):
    """A FetchError that remembers the HTTP status and a server's Retry-After (seconds)."""

    def __init__(self, reason: str, detail: str = "", status: int | None = None,
                 retry_after_s: float | None = None):
        super().__init__(reason, detail)
        self.status = status
        self.retry_after_s = retry_after_s


def redact(text: str) -> str:
    """Replace every query string that names a key-like parameter by '?<redacted>', and remove what
    `redact_text` removes besides (`user:password@`, secrets in a fragment).

    >>> redact("GET http://h/p.jpg?size=l&api_key=abc123 failed")
    'GET http://h/p.jpg?<redacted> failed'
    >>> redact("http://h/p.jpg?size=l")
    'http://h/p.jpg?size=l'
    >>> redact("GET http://bob:hunter2@h/cb#access_token=abc failed")
    'GET http://h/cb#access_token=REDACTED failed'
    """
    def scrub(match: re.Match) -> str:
        params = re.split(r"[&;]", match.group(0)[1:])
        names = {param.partition("=")[0].strip().lower() for param in params}
        return "?<redacted>" if any(map(is_secret_name, names)) else match.group(0)

    return redact_text(_QUERY_RE.sub(scrub, text))


def host_key(url: str) -> str:
    """'scheme://host:port' of an http(s) URL; anything else is FetchError('bad_url')."""
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError("bad_url", redact(f"unparseable URL ({exc})")) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError("bad_url", "not an http(s) URL with a host")
    default_port = 443 if parts.scheme.lower() == "https" else 80
    return f"{parts.scheme.lower()}://{parts.hostname}:{port or default_port}"


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host: what `host_key` accepts (API endpoints are checked with it)."""
    try:
        host_key(url)
    except FetchError:
        return False
    return True


def status_error(status: int, retry_after: str | None = None) -> HTTPFetchError:
    """The FetchError for a non-2xx final status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    detail = f"HTTP {status} {phrase}".strip()
    if status == 404:
        reason = "http_404"
    elif status == 429:
        reason = "http_429"
    elif 400 <= status < 500:
        reason = "http_4xx"
    elif status >= 500:
        reason = "http_5xx"
    else:
        reason = "http_3xx"
    return HTTPFetchError(reason, detail, status=status, retry_after_s=parse_retry_after(retry_after))


def backoff_delay_s(attempt: int, retry_after_s: float | None, base_s: float, max_s: float,
                    retry_after_cap_s: float) -> float:
    """Seconds to wait before retry number `attempt` + 1 (attempt counts from 0): a server's
    Retry-After up to a cap, else exponential backoff with jitter (clients that failed
    together spread out). Shared by every HTTP client in curate.ingest."""
    if retry_after_s is not None:
        return min(retry_after_cap_s, retry_after_s)
    return min(max_s, base_s * 2 ** attempt) * random.uniform(0.5, 1.0)


class TransientError(Exception):
    """A failure worth another try (timeout, 429, 5xx, "busy" API error): what an API
    client's attempt raises for `retry_call` to retry, with a server's Retry-After if any."""

    def __init__(self, detail: str, retry_after_s: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


def is_transient(exc: Exception) -> bool:
    """What `retry_call` retries unless told otherwise: a TransientError."""
    return isinstance(exc, TransientError)


def retry_call(call: Callable[[], T], attempts: int, *, backoff_base_s: float, backoff_max_s: float,
               retry_after_cap_s: float, retry_if: Callable[[Exception], bool] = is_transient,
               on_retry: Callable[[Exception, int, float], None] | None = None,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """What `call()` returns, trying it up to `attempts` times; the retry loop of every HTTP
    client in curate.ingest (each turns the failure that escapes into its own error).

    A failure for which `retry_if(exc)` is false escapes at once; a retryable one is
    retried after `backoff_delay_s` (the exception's `retry_after_s`, when it has one, is
    the server's Retry-After), and the last attempt's failure escapes. `on_retry(exc,
    attempt, wait_s)` hears of each retry before its wait (attempt counts from 1).

    >>> answers = iter([TransientError("HTTP 503", retry_after_s=2.0), "ok"])
    >>> def call():
    ...     answer = next(answers)
    ...     if isinstance(answer, Exception):
    ...         raise answer
    ...     return answer
    >>> retry_call(call, 3, backoff_base_s=1.0, backoff_max_s=10.0, retry_after_cap_s=60.0, sleep=print)
    2.0
    'ok'
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if attempt >= attempts or not retry_if(exc):
                raise
            wait_s = backoff_delay_s(attempt - 1, getattr(exc, "retry_after_s", None), backoff_base_s,
                                     backoff_max_s, retry_after_cap_s)
            if on_retry is not None:
                on_retry(exc, attempt, wait_s)
        sleep(wait_s)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# what the requests and urllib3 exceptions without an errno mean, for a row's error_detail (not class names)
_IN_WORDS = {"TooManyRedirects": "too many redirects", "ConnectionError": "the connection failed",
             "ProtocolError": "the connection broke off mid-response",
             "ChunkedEncodingError": "the response was cut off", "IncompleteRead": "the response was cut off",
             "ContentDecodingError": "the response could not be decompressed",
             "DecodeError": "the response could not be decompressed", "SSLError": "the TLS handshake failed",
             "ProxyError": "the proxy refused or failed"}


def in_words(exc: BaseException) -> str:
    """What a download exception without an errno means (`_IN_WORDS`), not its class name."""
    return _IN_WORDS.get(type(exc).__name__, "the connection failed")


def exception_error(exc: requests.RequestException) -> FetchError:
    """Map a requests exception onto a FetchError reason with a short, secret-free detail."""
    text = str(exc)
    errno = _ERRNO_RE.search(text)
    detail = errno.group(0).strip() if errno else in_words(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return FetchError("timeout", "connect timed out")
    if isinstance(exc, requests.Timeout):
        return FetchError("timeout", "read timed out waiting for the response")
    if exc.args and isinstance(exc.args[0], ReadTimeoutError):  # requests wraps it so while streaming
        return FetchError("timeout", "read timed out while streaming the body")
    if isinstance(exc, requests.TooManyRedirects):
        return FetchError("too_many_redirects", detail)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, requests.exceptions.URLRequired)):
        return FetchError("bad_url", redact(detail))
    return FetchError("connection_error", redact(detail))


class Downloader:
    """Thread-safe image downloader; use as a context manager to close its session."""

    def __init__(self, config: DownloadConfig | None = None):
        self.config = config or DownloadConfig()
        self.session = _make_session(self.config)
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._proxies: dict[str, dict[str, str]] = {}  # per host, from the environment
        self._lock = threading.Lock()

    def __reduce__(self):
        """Pickled as its config (for Ray workers, see curate.engines): the session, locks and
        per-host slots are rebuilt where it is unpickled, one per worker."""
        return (Downloader, (self.config,))

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def __call__(self, record: dict) -> bytes:
        """The engine's fetch callable: downloads `record['url']`."""
        return self.download(record.get("url") or "")

    def download(self, url: str) -> bytes:
        """The body of `url`, retrying transient failures; raises FetchError otherwise."""
        host = host_key(url)
        tries = 0

        def attempt() -> bytes:
            nonlocal tries
            tries += 1
            with self._host_slot(host):  # the backoff waits outside it: others may use the host
                return self._attempt(url, self._proxies[host])

        config = self.config
        try:
            return retry_call(attempt, config.retries + 1, backoff_base_s=config.backoff_base_s,
                              backoff_max_s=config.backoff_max_s, retry_after_cap_s=config.retry_after_cap_s,
                              retry_if=lambda exc: isinstance(exc, FetchError) and exc.reason in TRANSIENT_REASONS)
        except FetchError as failure:
            after = f" after {tries} attempts" if tries > 1 else ""
            raise FetchError(failure.reason, f"{failure.detail}{after}") from None

    @contextmanager
    def _host_slot(self, host: str):
        with self._lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = self._host_slots[host] = threading.BoundedSemaphore(max(1, self.config.per_host))
                # HTTP(S)_PROXY / NO_PROXY decide per host; resolving once saves requests' per-call scan.
                self._proxies[host] = requests.utils.get_environ_proxies(host)
        with slot:
            yield

    def _attempt(self, url: str, proxies: dict[str, str]) -> bytes:
        """One GET, streamed, with the size cap and the attempt deadline."""
        config = self.config
        started = time.monotonic()
        timeout = (config.connect_timeout_s, config.read_timeout_s)
        try:
            with self.session.get(url, stream=True, timeout=timeout, proxies=proxies) as response:
                if not 200 <= response.status_code < 300:
                    raise status_error(response.status_code, response.headers.get("Retry-After"))
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > config.max_bytes:
                    raise FetchError("too_large", f"Content-Length {declared} > {config.max_bytes} bytes")
                return self._read_body(response, started)
        except requests.RequestException as exc:
            raise exception_error(exc) from None

    def _read_body(self, response: requests.Response, started: float) -> bytes:
        """The body in small reads, so the size cap and the deadline bite while it trickles in."""
        body = bytearray()
        # read1 returns whatever has arrived (urllib3 >= 2.2); iter_content waits for whole chunks.
        read1 = getattr(response.raw, "read1", None)
        chunks = iter(lambda: read1(64 * 1024, decode_content=True), b"") if read1 else \
            response.iter_content(chunk_size=64 * 1024)
        try:
            for chunk in chunks:
                body += chunk
                if len(body) > self.config.max_bytes:
                    raise FetchError("too_large", f"body over {self.config.max_bytes} bytes")
                if time.monotonic() - started > self.config.attempt_deadline_s:
                    raise FetchError("timeout", f"download took over {self.config.attempt_deadline_s:g} s")
        except ReadTimeoutError:
            raise FetchError("timeout", "read timed out while streaming the body") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # reset, truncated, bad gzip
            raise FetchError("connection_error", redact(f"body: {in_words(exc)}")) from None
        return bytes(body)


def env_ca_bundle() -> str | bool:
    """TLS verification as requests' trust_env would set it: $REQUESTS_CA_BUNDLE or
    $CURL_CA_BUNDLE (a corporate proxy's CA, say), else the default bundle."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def api_session(user_agent: str) -> requests.Session:
    """A session for a JSON API (Flickr, Commons). The environment is read once: the CA bundle
    here, proxies by the caller with `requests.utils.get_environ_proxies(endpoint)`; trust_env
    is off, so no ~/.netrc credentials go to the API."""
    session = requests.Session()
    session.trust_env = False
    session.verify = env_ca_bundle()
    session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
    return session


def _make_session(config: DownloadConfig) -> requests.Session:
    session = requests.Session()
    # The environment is read once (proxies per host in Downloader, the CA bundle here), not
    # on every request as trust_env does (~1 ms of os.environ and ~/.netrc scans per call on
    # the hot path); and .netrc credentials have no business going to image hosts.
    session.trust_env = False
    session.verify = env_ca_bundle()
    # Retries are ours (see module docstring); the pool holds one connection per worker.
    adapter = HTTPAdapter(pool_connections=max(10, config.workers), pool_maxsize=max(1, config.workers),
                          max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": config.user_agent, "Accept": "image/*,*/*;q=0.5"})
    session.max_redirects = config.max_redirects
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # shared by threads: store nothing
    return session
