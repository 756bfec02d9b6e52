"""Ingest sources into a workspace: demo, folder, urls (and later flickr, commons)."""
