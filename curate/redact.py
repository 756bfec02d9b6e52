"""Credentials taken out of URLs and free text before they are stored or shown.

What it redacts: a URL's `user:password@`, and the value of every query or fragment parameter whose
name says it is a credential (`api_key`, `token`, `sig`, `X-Amz-Signature`, `#access_token`, a name
ending in a separated `key`...: `is_secret_name`, the one rule for all of them). The name stays, so
a redacted URL still says what it was.

Why: a source URL, an object-store location or a command-line option may carry a secret, and
secrets never reach logs, the catalog, reports or error messages. `redact_url` cleans a URL the
catalog stores (`curate.records.records_to_rows`); `redact_text`, `mask_userinfo` and
`redact_params` clean free text (errors, log lines) from downloads, the object store and the
command line. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

# Query parameters whose value is a credential (compared lower-cased), and name fragments that say so.
SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "auth", "secret", "sig",
                           "signature", "password", "passwd", "pwd", "oauth_token", "client_secret", "api_secret",
                           "session", "sessionid", "code", "jwt", "x-amz-credential", "x-amz-security-token"})
# substrings of a credential's name, and a name ending in a separated "key" (private_key,
# subscription-key, x-api-key; not "monkey")
_SECRET_NAME = re.compile(r"token|secret|passw|signature|credential|api_?key|access_?key|auth|session|"
                          r"(?:^|[_.-])key$")
REDACTED = "REDACTED"


def redact_url(url: object) -> object:
    """A URL fit to store for display: user:password@ removed and the value of every
    secret-looking query parameter replaced by REDACTED (name kept, so the URL still
    says what it was). Anything that is not a text URL comes back unchanged.

    >>> redact_url("https://bob:hunter2@h.example/p.jpg?size=l&api_key=abc&X-Amz-Signature=f00")
    'https://h.example/p.jpg?size=l&api_key=REDACTED&X-Amz-Signature=REDACTED'

    The fragment too (an OAuth redirect puts `#access_token=` there), and a URL too malformed to
    parse is redacted as text, never kept as it came:

    >>> redact_url("https://h.example/cb#access_token=abc&state=1")
    'https://h.example/cb#access_token=REDACTED&state=1'
    >>> redact_url("http://[::1:9/e.jpg?api_key=abc")
    'http://[::1:9/e.jpg?api_key=REDACTED'
    """
    if not isinstance(url, str) or ("@" not in url and "=" not in url):
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:  # e.g. an unclosed [ in the host: redact what looks like a secret, as text
        return redact_text(url)
    query = "&".join(_redact_param(param) for param in parts.query.split("&")) if parts.query else ""
    fragment = "&".join(_redact_param(param) for param in parts.fragment.split("&")) if parts.fragment else ""
    return SplitResult(parts.scheme, netloc, parts.path, query, fragment).geturl()


_USERINFO_TEXT = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s?#]*@")
# a URL in free text: its scheme, the slashes after it (one where a Path collapsed `s3://`), the rest of its word
_URL_WORD = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]+:)(/{1,2})(\S*)")


def mask_userinfo(text: str, mask: str = "") -> str:
    """Every URL in free text with its `user:password@` replaced by `mask`, taken up to the word's last `@`: a
    raw AWS secret holds `/` and a password may hold `@`, where a URL parser (and the older patterns here) stop
    at the first of them and leave the rest of the secret (audit AO). A URL whose `//` a Path collapsed to `/`
    (`s3:/u:p@b/x`, echoed from a path option) gets its `//` back. Left as it is: no `@`, a mask already there
    (`***@`), and text before the `@` that reads as a path, not credentials (`s3://b/x@2x.png`: a `/` and no
    `:`; after a single `/`, no `:`).

    >>> mask_userinfo("s3://AKIA:ab/c+d@bucket/x s3:/u:p@w@b/y s3://TOKEN@b s3://b/x@2x.png img:/x@2x.png", "***@")
    's3://***@bucket/x s3://***@b/y s3://***@b s3://b/x@2x.png img:/x@2x.png'
    """
    def masked(match: re.Match) -> str:
        scheme, slashes, rest = match.groups()
        userinfo, at, tail = rest.rpartition("@")
        credentials = ":" in userinfo or (slashes == "//" and "/" not in userinfo)
        if not at or userinfo == "***" or not credentials:
            return match.group(0)
        return f"{scheme}//{mask}{tail}"

    return _URL_WORD.sub(masked, text)


_SECRET_TEXT_PARAM = re.compile(r"(?P<lead>[?&#;])(?P<name>[^=&#;\s]+)=(?P<value>[^&#;\s]*)")


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL's `user:password@` removed and the
    value of every secret-looking parameter, in a query or a fragment, replaced by REDACTED.

    >>> redact_text("GET https://bob:hunter2@h.example/cb?size=l#access_token=abc failed")
    'GET https://h.example/cb?size=l#access_token=REDACTED failed'
    """
    return redact_params(mask_userinfo(_USERINFO_TEXT.sub(r"\g<scheme>", text)))


def redact_params(text: str, marker: str = REDACTED, keep: str | None = None) -> str:
    """Free text with the value of every secret-looking URL parameter (after ?, &, ; or #)
    replaced by `marker`; nothing else changed. A value equal to `keep` (a mask already there) stays."""
    return _SECRET_TEXT_PARAM.sub(lambda match: match.group(0) if keep and match.group("value").startswith(keep)
                                  else _redact_match(match, marker), text)


def _redact_match(match: re.Match, marker: str = REDACTED) -> str:
    return match.group("lead") + _redact_param(f"{match.group('name')}={match.group('value')}", marker)


def is_secret_name(name: str) -> bool:
    """Whether a URL parameter named `name` carries a credential (api_key, X-Amz-Signature, token...).

    >>> [is_secret_name(n) for n in ("x-api-key", "private_key", "Ocp-Apim-Subscription-Key", "monkey", "size")]
    [True, True, True, False, False]
    """
    key = name.strip().lower()
    return key in SECRET_PARAMS or bool(_SECRET_NAME.search(key))


def _redact_param(param: str, marker: str = REDACTED) -> str:
    name, sep, value = param.partition("=")
    if sep and value and is_secret_name(name):
        return f"{name}={marker}"
    return param
