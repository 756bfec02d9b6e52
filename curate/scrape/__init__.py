"""Real photos as ground truth: a noisy Flickr-like scrape built from a clean labelled folder.

`curate ingest scrape FOLDER --topic TAG --offtopic DIR` draws the pixels from real files
(on-topic from the label subfolders, off-topic from the --offtopic folders) and the
metadata and noise from the demo generator's model, and adds near-duplicate copies made
with real edits. See `ScrapeConfig` for the settings, `generate_scrape` for the tables,
`render_scrape_photo` for the bytes and `curate.ingest.scrape` for ingesting it.
"""

from curate.scrape.config import EDIT_KINDS, ScrapeConfig
from curate.scrape.edits import ScrapeRenderer, render_scrape_photo
from curate.scrape.metadata import generate_scrape
from curate.scrape.sources import ScrapeSources, find_sources

__all__ = ["EDIT_KINDS", "ScrapeConfig", "ScrapeRenderer", "ScrapeSources", "find_sources", "generate_scrape",
           "render_scrape_photo"]
