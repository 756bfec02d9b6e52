"""Licence spellings -> one canonical short name. The ONE place that knows them.

Sources spell the same licence many ways: Flickr gives numeric ids ("4") or names
("Attribution License", "CC BY 2.0"), Wikimedia Commons short names ("CC BY-SA 4.0",
"CC0", "Public domain"), YFCC100M licence URLs, SPDX ids ("CC-BY-SA-4.0"). The catalog
stores one spelling: lower case, hyphenated, version (and jurisdiction port) kept:

    cc-by-2.0   cc-by-sa-4.0   cc-by-sa-3.0-de   cc0-1.0   pdm-1.0   all-rights-reserved

A canonical name is a *family* (KNOWN_FAMILIES), then optionally a version, then
optionally a port (CC0 and the Public Domain Mark always get their only version, 1.0).
Text that is not recognised is not a licence we can vouch for:
`canonical_licence` returns None for it (the catalog keeps such text as given).

Matching (`licence_allowed`): an allowed name without a version matches every version
and port of its family (`cc-by` matches cc-by-2.0 and cc-by-4.0, but not cc-by-sa-*);
with a version it matches that version in any port (`cc-by-sa-3.0` matches
cc-by-sa-3.0 and cc-by-sa-3.0-de); with a port, only that port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.settings_fields import SettingError

KNOWN_FAMILIES = ("cc-by", "cc-by-sa", "cc-by-nd", "cc-by-nc", "cc-by-nc-sa", "cc-by-nc-nd", "cc0", "pdm",
                  "public-domain", "no-known-copyright", "us-government-work", "gfdl", "all-rights-reserved")

# flickr.photos.licenses.getInfo, as recorded in ../shared/realdata/flickr-api-recordings
# (TestLicenseMethods.*): ids 0-10 since 2008-2017, 11-16 (CC 4.0) added later.
FLICKR_LICENCE_IDS = {
    "0": "all-rights-reserved", "1": "cc-by-nc-sa-2.0", "2": "cc-by-nc-2.0", "3": "cc-by-nc-nd-2.0",
    "4": "cc-by-2.0", "5": "cc-by-sa-2.0", "6": "cc-by-nd-2.0", "7": "no-known-copyright",
    "8": "us-government-work", "9": "cc0-1.0", "10": "pdm-1.0", "11": "cc-by-4.0", "12": "cc-by-sa-4.0",
    "13": "cc-by-nd-4.0", "14": "cc-by-nc-4.0", "15": "cc-by-nc-sa-4.0", "16": "cc-by-nc-nd-4.0",
}

# Whole names (squashed: lower case, letters, digits and dots only) that no pattern below reads.
# Flickr's older getInfo names carry no version: ids 1-6 were the 2.0 licences.
_NAMES = {
    "allrightsreserved": "all-rights-reserved", "copyright": "all-rights-reserved",
    "attributionlicense": "cc-by-2.0", "attributionsharealikelicense": "cc-by-sa-2.0",
    "attributionnoderivslicense": "cc-by-nd-2.0", "attributionnoncommerciallicense": "cc-by-nc-2.0",
    "attributionnoncommercialsharealikelicense": "cc-by-nc-sa-2.0",
    "attributionnoncommercialnoderivslicense": "cc-by-nc-nd-2.0",
    "noknowncopyrightrestrictions": "no-known-copyright", "noknowncopyright": "no-known-copyright",
    "unitedstatesgovernmentwork": "us-government-work", "usgovernmentwork": "us-government-work",
    "publicdomaindedicationcc0": "cc0-1.0", "publicdomaindedication": "cc0-1.0",
    "publicdomainmark": "pdm-1.0", "publicdomain": "public-domain", "pd": "public-domain",
}
_SQUASH = re.compile(r"[^a-z0-9.,]+")
# Long names ("Attribution-ShareAlike 4.0 International", "Public Domain Mark 1.0") -> short ones.
_WORDS = (("attribution", "ccby"), ("noncommercial", "nc"), ("noderivatives", "nd"), ("noderivs", "nd"),
          ("sharealike", "sa"), ("publicdomainmark", "pdm"), ("cczero", "cc0"))
_VERSION = r"(?P<version>\d+(?:\.\d+)?)(?:,\d+(?:\.\d+)?)*"  # Commons multi-licence "2.5,2.0,1.0": the first
_CC = re.compile(rf"^(?:cc|creativecommons)(?P<parts>by(?:nc)?(?:nd|sa)?)(?:{_VERSION})?(?P<port>[a-z]{{2,3}})?$")
_SIMPLE = re.compile(rf"^(?P<family>cc0|pdm|gfdl)(?:{_VERSION})?(?P<port>[a-z]{{2,3}})?$")
_URL = re.compile(r"creativecommons\.org/(?:licenses/(?P<parts>by(?:-nc)?(?:-nd|-sa)?)|publicdomain/(?P<pd>zero|mark))"
                  r"/(?P<version>\d+(?:\.\d+)?)(?:/(?P<port>[a-z]{2,3}))?")
# Flickr's licence number, also as pandas writes it in a column with an empty cell (`4.0`) or zero-padded (`04`)
_FLICKR_ID = re.compile(r"^(?:flickrlicense)?0*(?P<id>\d{1,2})(?:\.0+)?$")


@dataclass(frozen=True)
class LicenceName:
    """A canonical licence name split into its parts (version and port may be None)."""

    family: str
    version: str | None = None
    port: str | None = None

    def __str__(self) -> str:
        return "-".join(part for part in (self.family, self.version, self.port) if part)


def parse_licence(text: object) -> LicenceName | None:
    """The licence `text` names, or None when it is not a spelling curate knows.

    >>> str(parse_licence("4")), str(parse_licence("CC BY-SA 3.0 de")), str(parse_licence("cc-by"))
    ('cc-by-2.0', 'cc-by-sa-3.0-de', 'cc-by')
    >>> str(parse_licence("4.0")), str(parse_licence("04")), str(parse_licence(0.0)), parse_licence("4.5")
    ('cc-by-2.0', 'cc-by-2.0', 'all-rights-reserved', None)
    >>> parse_licence("my own terms") is None
    True
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    raw = str(text).strip().casefold()
    url = _URL.search(raw)
    if url:
        family = {"zero": "cc0", "mark": "pdm"}.get(url["pd"]) or f"cc-{url['parts']}"
        return LicenceName(family, _version(url["version"], family), url["port"])
    squashed = _SQUASH.sub("", raw.replace("licence", "license")).strip(".,")
    flickr = _FLICKR_ID.match(squashed)
    if flickr:
        return _split(FLICKR_LICENCE_IDS[flickr["id"]]) if flickr["id"] in FLICKR_LICENCE_IDS else None
    if squashed in _NAMES:
        return _split(_NAMES[squashed])
    if squashed == "attribution":  # Commons' {{Attribution}}: a licence of its own, not CC BY
        return None
    squashed = re.sub(r"(international|unported|generic|license)+$", "", squashed)
    for word, short in _WORDS:
        squashed = squashed.replace(word, short)
    for pattern in (_CC, _SIMPLE):
        found = pattern.match(squashed)
        if found:
            family = found["family"] if "family" in pattern.groupindex else \
                "cc-" + "-".join(re.findall(r"by|nc|nd|sa", found["parts"]))
            return LicenceName(family, _version(found["version"], family), found["port"])
    return None


def _version(text: str | None, family: str = "") -> str | None:
    """'2' -> '2.0', so that 'CC BY 2' and 'CC BY 2.0' are one licence; CC0 and the Public Domain
    Mark have only ever had version 1.0, so 'CC0' is cc0-1.0 like Flickr's licence 9."""
    if text is None:
        return "1.0" if family in ("cc0", "pdm") else None
    return text if "." in text else f"{text}.0"


def _split(canonical: str) -> LicenceName:
    """'cc-by-sa-3.0-de' -> LicenceName('cc-by-sa', '3.0', 'de'): the version is the first part that starts
    with a digit."""
    parts = canonical.split("-")
    at = next((i for i, part in enumerate(parts) if part[:1].isdigit()), len(parts))
    return LicenceName("-".join(parts[:at]), parts[at] if at < len(parts) else None,
                       "-".join(parts[at + 1:]) or None)


def canonical_licence(text: object) -> str | None:
    """The canonical short name of `text`, or None when it is not recognised.

    >>> canonical_licence("Attribution-ShareAlike License")
    'cc-by-sa-2.0'
    >>> canonical_licence("https://creativecommons.org/publicdomain/zero/1.0/")
    'cc0-1.0'
    """
    name = parse_licence(text)
    return None if name is None else str(name)


def canonical_licences(values: pd.Series) -> pd.Series:
    """Each value's canonical name where recognised, else the value as given (nulls stay null).

    Each distinct value is parsed once.
    """
    out = values.astype(object).copy()
    present = values.notna().to_numpy()
    mapping = {value: canonical_licence(value) or value for value in pd.unique(values[present])}
    out[present] = values[present].map(mapping)
    return out


def parse_allowed(names: Iterable[str]) -> tuple[str, ...]:
    """Allowed licence names (any spelling `parse_licence` reads) in canonical form, checked.

    Raises UsageError naming the first unknown one and listing the known families.
    """
    allowed = []
    for name in names:
        parsed = parse_licence(name)
        if parsed is None:
            raise SettingError(f"{{licences}}: unknown licence {name!r}; known names: {', '.join(KNOWN_FAMILIES)} "
                               "(add a version such as cc-by-4.0 to allow only that version)", "licences")
        allowed.append(str(parsed))
    if not allowed:
        raise SettingError(f"{{licences}} needs at least one licence name, e.g. cc-by,cc-by-sa; known names: "
                           f"{', '.join(KNOWN_FAMILIES)}", "licences")
    return tuple(dict.fromkeys(allowed))


def licence_allowed(values: pd.Series, allowed: Iterable[str]) -> np.ndarray:
    """Whether each licence in `values` is allowed (see the module docstring for the matching rule).

    A null or unrecognised licence is never allowed.
    """
    rules = [parse_licence(name) for name in allowed]
    verdict = {}
    for value in pd.unique(values.dropna()):
        name = parse_licence(value)
        verdict[value] = name is not None and any(
            name.family == rule.family and rule.version in (None, name.version) and rule.port in (None, name.port)
            for rule in rules if rule is not None)
    return np.fromiter((verdict.get(value, False) for value in values), dtype=bool, count=len(values))
