"""Tags: how a source's tag cell becomes the catalog's tag list, and what a tag names (pure).

`parse_tags` reads a cell as users and scrapers write it (a JSON, Python or NumPy list, commas, semicolons,
spaces with Flickr's "quoted words"); `normalise_tag` is the form every tag is stored in; a Flickr machine
tag's value (`dc:subject=skyline`) names a label or topic as a plain tag does (`tag_and_value`). Labels and
the topic are matched by the recipe's key (`curate.recipes.squash`).
"""

from __future__ import annotations

import csv
import json
import math
import re
import unicodedata
from collections.abc import Iterable


def normalise_tag(tag: object) -> str:
    """NFC, lower case, trimmed, inner whitespace collapsed."""
    text = unicodedata.normalize("NFC", str(tag)).casefold()
    return " ".join(text.split())


# A Flickr machine tag, `namespace:predicate=value` (namespace and predicate a letter, then letters, digits
# or underscores, as Flickr defines them): `taxonomy:genus=quercus`,
# `dc:subject="new york"`. Its value names a label or topic like a plain tag does (`machine_tag_value`).
MACHINE_TAG = re.compile(r"([a-z_][a-z0-9_]*):([a-z_][a-z0-9_]*)=(.+)")


def machine_tag_value(tag: str) -> str | None:
    """The value of a (normalised) machine tag, quotes stripped; None for a plain tag.

    >>> machine_tag_value("taxonomy:genus=quercus"), machine_tag_value('dc:subject="new york"')
    ('quercus', 'new york')
    >>> machine_tag_value("chicago"), machine_tag_value("12:30"), machine_tag_value("geo:lat=")
    (None, None, None)
    """
    match = MACHINE_TAG.fullmatch(tag)
    if match is None:
        return None
    value = match.group(3).strip().strip('"').strip()
    return value or None


def tag_and_value(tags: Iterable[str]) -> Iterable[str]:
    """Each tag, and after a machine tag its value too: what a label or topic is matched against.

    >>> list(tag_and_value(["skyline", "taxonomy:genus=quercus"]))
    ['skyline', 'taxonomy:genus=quercus', 'quercus']
    """
    for tag in tags:
        yield tag
        if ":" in tag and "=" in tag:
            value = machine_tag_value(tag)
            if value is not None:
                yield value


def parse_tags(value: object, unique: bool = True) -> list[str]:
    """Tags from a list, or from a text cell (each once, first occurrence first; all of them in order
    without `unique`). A text cell is read as the first of these that fits:

    - a JSON list (`["new york", "skyline"]`), or a Python or NumPy list as pandas writes one to CSV
      (`['chicago', 'skyline']`, `['chicago' 'skyline']`);
    - tags separated by commas (`new york, skyline`), where "double quotes" may hold a comma;
    - without a comma, tags separated by semicolons (`paris;france`, `new york; skyline`: Lightroom, exiftool;
      not an emoticon's `;)`: `_semicolon_separated`);
    - else tags separated by spaces, where "double quotes" hold a tag of several words, as Flickr's own
      tag box takes them (`"new york" skyline` is `new york` and `skyline`).

    Each tag is then trimmed of surrounding quotes and of a leading `#` (a hashtag), NFC-normalised,
    case folded, its inner whitespace collapsed (`normalise_tag`). A machine tag stays as it came
    (`dc:subject="new york"`).

    >>> parse_tags("Chicago  skyline chicago")
    ['chicago', 'skyline']
    >>> parse_tags("new york, skyline,"), parse_tags('"New York" #skyline dc:subject="new york"')
    (['new york', 'skyline'], ['new york', 'skyline', 'dc:subject="new york"'])
    >>> parse_tags("['Chicago', 'skyline']"), parse_tags("nyc; skyline")
    (['chicago', 'skyline'], ['nyc', 'skyline'])
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        items: Iterable = _tag_items(value.strip())
    elif isinstance(value, Iterable):
        items = value
    else:
        items = [value]
    tags = [tag for tag in map(normalise_tag, map(_bare_tag, items)) if tag]
    return list(dict.fromkeys(tags)) if unique else tags


# A quoted item of a Python or NumPy list's text: 'chicago', "st. john's" (backslash escapes inside).
_LISTED_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)  # a backslash escape in a Python string's text (\' is ')
_ENTITY = re.compile(r"&#?\w+;")  # an HTML entity: its `;` separates nothing
# A tag of a space-separated cell: a run of characters and "quoted words" with no space outside the quotes.
_SPACED_TAG = re.compile(r'(?:[^\s"]+|"[^"]*")+')


def _tag_items(text: str) -> list:
    """The items of a tags cell (see `parse_tags`), before each is cleaned."""
    if text.startswith("["):
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read (audit J)
            items = None
        if isinstance(items, list):
            return items
        listed = _listed_items(text)
        if listed is not None:
            return listed
        return text.strip("[]").split(",")
    if "," in text:
        return _split_quoted(text, ",")
    if _semicolon_separated(_ENTITY.sub("", text)):  # (`rock&amp;roll` is one tag)
        return _split_quoted(text, ";")
    return _SPACED_TAG.findall(text)


def _semicolon_separated(text: str) -> bool:
    """Whether a cell without commas lists its tags between semicolons: two items or more, each with a letter
    or a digit (`smile;)` is an emoticon in a space-separated cell: review CO), and either no item holds a
    space (`paris;france`) or each semicolon is followed by one (`new york; skyline`, as Lightroom writes).

    >>> _semicolon_separated("paris;france"), _semicolon_separated("new york; skyline")
    (True, True)
    >>> _semicolon_separated("eiffel tower paris smile;)"), _semicolon_separated("tokyo 東京;タワー")
    (False, False)
    """
    pieces = text.split(";")
    items = [piece.strip() for piece in pieces]
    if len(items) < 2 or not all(any(ch.isalnum() for ch in item) for item in items):
        return False
    return not any(ch.isspace() for item in items for ch in item) or all(piece[:1].isspace() for piece in pieces[1:])


def _listed_items(text: str) -> list[str] | None:
    """The strings of a Python or NumPy list's text (`['a', "b's"]`, `['a' 'b']`); None when the text holds
    anything but quoted strings, commas and spaces between its brackets."""
    inner = text.strip()
    if not inner.endswith("]"):
        return None
    inner = inner[1:-1]
    if _LISTED_ITEM.sub("", inner).strip(", \n\t"):
        return None
    return [_ESCAPE.sub(r"\1", single or double) for single, double in _LISTED_ITEM.findall(inner)]


def _split_quoted(text: str, separator: str) -> list[str]:
    """`text` split on `separator` outside "double quotes" (as a CSV line is); plainly when its quotes are
    unbalanced or it will not read as one line."""
    if text.count('"') % 2 == 0 and '"' in text and "\n" not in text and "\r" not in text:
        try:
            return next(csv.reader([text], delimiter=separator, skipinitialspace=True))
        except csv.Error:  # a field over csv's size limit
            pass
    return text.split(separator)


def _bare_tag(item: object) -> object:
    """A tag without the quotes around it (`"new york"`, `'chicago'`) and without a hashtag's `#`.

    >>> _bare_tag(' "new york" '), _bare_tag("#Paris"), _bare_tag("'80s"), _bare_tag('dc:subject="x"'), _bare_tag(7)
    ('new york', 'Paris', "'80s", 'dc:subject="x"', 7)
    """
    if not isinstance(item, str):
        return item
    tag = item.strip()
    while len(tag) >= 2 and tag[0] == tag[-1] and tag[0] in "\"'":
        tag = tag[1:-1].strip()
    return tag.lstrip("#").strip()
