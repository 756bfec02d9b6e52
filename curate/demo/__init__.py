"""The demo collection: a generated stand-in for a Flickr skyline scrape, with ground truth.

Ten cities' skylines drawn procedurally (the city is learnable from the pixels), off-topic
photos, a long tail of photographers with personal camera looks, and every failure mode
of a real scrape injected at known rates: mis-geotags, missing and invalid coordinates,
several city tags, skylines tagged (and geotagged) as another city, unreliable `skyline`
tags, the sandals photographer, bursts, exact duplicates and broken files. See
`DemoConfig` for the rates, `generate_metadata` for the tables, `render_photo` for the
images and `curate.ingest.demo` for ingesting it.
"""

from curate.demo.config import BROKEN_DROP_REASON, BROKEN_KINDS, DemoConfig, parse_image_size
from curate.demo.metadata import generate_metadata
from curate.demo.render import PhotoRenderer, render_photo, render_pixels

__all__ = ["BROKEN_DROP_REASON", "BROKEN_KINDS", "DemoConfig", "PhotoRenderer", "generate_metadata",
           "parse_image_size", "render_photo", "render_pixels"]
