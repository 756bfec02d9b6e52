"""Flickr as a source: `flickr.photos.search` with licence, owner, geo and date extras.

api.py is the only network code; pages.py parses answers (pure); plan.py slices a query
under Flickr's ~4,000-result cap and keeps the resumable cursor; source.py runs it all.
"""

from curate.ingest.flickr.source import FlickrIngestReport, FlickrOptions, FlickrQuery, ingest_flickr, resolve_api_key

__all__ = ["FlickrIngestReport", "FlickrOptions", "FlickrQuery", "ingest_flickr", "resolve_api_key"]
