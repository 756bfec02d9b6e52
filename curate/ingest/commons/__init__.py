"""Wikimedia Commons as a photo source (`curate ingest commons`).

- `client`: the only network code for the Commons API (serial, maxlag, retries).
- `pages`: pure parsing of API answers into canonical records.
- `cursor`: the resumable listing state under `<workspace>/journal/`.
- `source`: the query/options dataclasses and `ingest_commons`.

No API key is needed. Thumbnails (`iiurlwidth`) are downloaded by the shared Downloader.
"""

from curate.ingest.commons.source import (
    COMMONS_DOWNLOAD,
    DEFAULT_ENDPOINT,
    SOURCE,
    CommonsOptions,
    CommonsQuery,
    CommonsReport,
    ingest_commons,
)

__all__ = ["COMMONS_DOWNLOAD", "DEFAULT_ENDPOINT", "SOURCE", "CommonsOptions", "CommonsQuery", "CommonsReport",
           "ingest_commons"]
