"""`curate ingest <source>`: one command per source, composed into one group."""

from __future__ import annotations

from curate.cli import ingest_commons, ingest_demo, ingest_flickr, ingest_folder, ingest_scrape, ingest_urls
from curate.cli.help import HelpTyper

app = HelpTyper(help="Pull tagged photos + metadata from a source into the workspace.", no_args_is_help=True)
app.command("demo")(ingest_demo.demo)
app.command("scrape")(ingest_scrape.scrape)
app.command("folder")(ingest_folder.folder)
app.command("urls")(ingest_urls.urls)
app.command("flickr")(ingest_flickr.flickr)
app.command("commons")(ingest_commons.commons)
