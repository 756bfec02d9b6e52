"""The topic's tag key in SQL (`curate.outofcore.report.tag_key_sql`) equals `curate.recipes.squash` on the tags the
catalog stores (NFC and case folded at ingest), so both report engines count the same photos as topic-tagged
(review CO: U+FE0F made every emoji one key; DuckDB's lower() differs from Python's casefold on Cherokee)."""

from __future__ import annotations

import duckdb
import pytest

from curate.outofcore.report import tag_key_sql
from curate.recipes import squash
from curate.tags import normalise_tag

SPELLINGS = ["New York", "AC/DC", "St. John's", "Ferté-Milon", "Zu\u0308rich", "parisian", "東京タワー", "🗼 ",
             "\u2764\ufe0f", "\u2764", "\u2600\ufe0f", "\u2764\ufe0fparis", "👍🏽", "!!!", "_-_", "sky-line", "ß",
             "İstanbul", "½", "x²", "ＡＢＣ", "नमस्ते", "สวัสดี", "ᏣᎳᎩ", "c++", "1.5", "👨‍👩‍👧", "🇫🇷", "a\u200db"]


FOREIGN = ["Straße", "STRASSE", "ﬁsh", "ΣΊΣΥΦΟΣ", "ὈΔΥΣΣΕΎΣ", "µm", "ẞ", "ᏣᎳᎩ", "ꮳꮃꭹ", "SKY-LINE", "İzmir"]


@pytest.mark.parametrize("spelling", SPELLINGS + FOREIGN)
@pytest.mark.parametrize("stored_by", ["ingest", "another writer"])
def test_the_sql_key_of_a_tag_is_its_python_key(spelling, stored_by):
    """Compared in lower case, as topic_tagged_sql compares them; a catalog from another writer holds tags ingest
    never case folded (audit CN: the DuckDB report counted 0 photos tagged `straße` where pandas counted 139)."""
    stored = normalise_tag(spelling) if stored_by == "ingest" else spelling
    con = duckdb.connect()
    got = con.execute(f"SELECT lower({tag_key_sql('t')}) FROM (SELECT ? AS t)", [stored]).fetchone()[0]
    assert got == con.execute("SELECT lower(?)", [squash(stored)]).fetchone()[0]


def test_emoji_keys_tell_emoji_apart_and_ignore_the_presentation_selector():
    assert squash("\u2764\ufe0f") == squash("\u2764") != squash("\u2600\ufe0f")
    assert squash("\u2764\ufe0fparis") == squash("paris")
