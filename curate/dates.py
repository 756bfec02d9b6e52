"""Dates as users' metadata files write them, read into naive timestamps (`read_taken_at`).

ISO 8601 with or without a zone, EXIF's own `2022:06:05 09:00:00` as `exiftool -csv` writes it, day/month
dates in the order the column tells, whatever else pandas reads; what no reader can use (no year, a
placeholder, a camera clock never set, the future) is left empty and counted, so the ingest can say so and
fall back to the photo's EXIF time (audits AV2, AX).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd

# `2022:06:05 09:00:00`: EXIF's own layout, as exiftool -csv writes it (pandas read it as year 1, the time kept)
EXIF_DATE = r"^\s*(\d{4}):(\d{2}):(\d{2})(?=$|[ T])"
# 12/01/2022, 13.01.2022 09:00, 3-5-21: day and month in an order the column itself has to tell
NUMERIC_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{4}|\d{2})(?=$|[ T,])(.*)$"
FIRST_PHOTO_YEAR = 1826  # the oldest surviving photograph: an earlier taken_at is a placeholder or a typo
# A camera clock started from zero: the first day of the Unix and of the DOS epoch, what a camera whose clock
# was never set (or whose battery died) writes, minutes after its zero (audit AU: 1970-01-01 00:04:31). Such a
# date says nothing of when the photo was taken, and the split would join every photo carrying it within 10
# minutes and 1 km into one walk (audit AS 9); an exiftool export writes it into a metadata file as it is
# (audit AX). (2000-01-01, another camera default, is also a real day: kept.)
CLOCK_AT_ZERO = frozenset({datetime.date(1970, 1, 1), datetime.date(1980, 1, 1)})
# A value holds a date when it has a year-first date (2022-06-05, 2022/6/5, 2022.06.05: EXIF and day/month dates are
# rewritten so first), eight digits (20220605), or a month's name and a year: pandas reads a value without one as
# this year's (a time alone as today's, a zone or fractions of a second being no year: review AY).
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_HAS_DATE = (r"(?i)\d{4}[-/.]\d{1,2}|(?<!\d)\d{8}(?!\d)"
             rf"|\b{_MONTH}(?![a-z]).*?(?<!\d)\d{{4}}(?!\d)|(?<!\d)\d{{4}}(?!\d).*?\b{_MONTH}(?![a-z])")
# a clock at zero, read on the date as written (a zone's offset would move 1970-01-01 00:04+05:00 into 1969)
_AT_ZERO = "|".join(rf"{day.year}-0?{day.month}-0?{day.day}(?!\d)" for day in sorted(CLOCK_AT_ZERO))


@dataclass
class TakenAt:
    """A column of dates read (`read_taken_at`): `moments` (naive, null where unread), and what a user
    should hear: cells that could not be read, dates before FIRST_PHOTO_YEAR or after tomorrow (set to
    null), and day/month dates the column never says the order of (an example of each)."""

    moments: pd.Series
    unreadable: int = 0
    unreadable_example: str = ""
    implausible: int = 0
    implausible_example: str = ""
    ambiguous: int = 0
    ambiguous_example: str = ""
    day_first: bool = False
    both_orders: bool = False  # undecided dates read day first (dotted) and others month first in one column

    def warnings(self, column: str = "taken_at") -> list[str]:
        """One line for each problem, naming the column as the user's file spells it."""
        lines = []
        if self.unreadable:
            lines.append(f"{self.unreadable:,} {column} value{'s' if self.unreadable != 1 else ''} could not be read "
                         f"as a date (e.g. {self.unreadable_example!r}) and {'were' if self.unreadable != 1 else 'was'}"
                         " left empty: write dates as 2022-06-05 09:00:00")
        if self.implausible:
            lines.append(f"{self.implausible:,} {column} value{'s' if self.implausible != 1 else ''} before "
                         f"{FIRST_PHOTO_YEAR}, in the future or on a camera clock never set (1970-01-01, 1980-01-01; "
                         f"e.g. {self.implausible_example!r}) {'were' if self.implausible != 1 else 'was'} left empty")
        if self.ambiguous:
            order = ("day first when dotted (31.12), else month first (12/31)" if self.both_orders
                     else "day first (31/12)" if self.day_first else "month first (12/31)")
            lines.append(f"{self.ambiguous:,} {column} value{'s' if self.ambiguous != 1 else ''} such as "
                         f"{self.ambiguous_example!r} could be day/month or month/day and nothing in the column "
                         f"tells which: read {order}; write dates as 2022-06-05 to be sure")
        return lines


def _numeric_dates(text: pd.Series) -> tuple[pd.Series, TakenAt]:
    """`text` with its day/month dates (NUMERIC_DATE) rewritten year first, in the one order the column
    allows, decided for each separator apart (audit AX: one slashed US date decided the order of the column's
    dotted European ones): day first where a first number is over 12 (13/01/2022), month first where a second
    one is; undecided, day first when dotted (13.01.2022, the European way), else month first, counted.

    >>> text, found = _numeric_dates(pd.Series(["05.06.2022", "06.07.2022", "12/25/2022", "x"]))
    >>> text.tolist(), found.ambiguous
    (['2022-06-05', '2022-07-06', '2022-12-25', 'x'], 2)
    >>> print(_numeric_dates(pd.Series(["01/02/2022", "01.02.2022"]))[1].warnings()[0])  # doctest: +ELLIPSIS
    2 taken_at values such as '01/02/2022' ... read day first when dotted (31.12), else month first (12/31); ...
    """
    parts = text.str.extract(NUMERIC_DATE)
    numeric = parts[0].notna()
    found = TakenAt(pd.Series(dtype="datetime64[us]"))
    if not numeric.any():
        return text, found
    first, second = parts[0][numeric].astype(int), parts[2][numeric].astype(int)
    separator = parts[1][numeric]
    day_first = pd.Series(False, index=first.index)
    for mark in separator.unique():
        mine = separator == mark
        big_first, big_second = int((first[mine] > 12).sum()), int((second[mine] > 12).sum())
        if big_first or big_second:
            day_first[mine] = big_first >= big_second
            continue
        day_first[mine] = mark == "."
        undecided = mine & (first != second)
        if undecided.any() and not found.ambiguous:
            found.ambiguous_example = str(text[numeric][undecided].iloc[0]).strip()
            found.day_first = mark == "."
        elif undecided.any():
            found.both_orders |= found.day_first != (mark == ".")
        found.ambiguous += int(undecided.sum())
    if not found.ambiguous:
        found.day_first = bool(day_first.mean() > 0.5)
    day, month = first.where(day_first, second), second.where(day_first, first)
    year = parts[3][numeric]
    short = year.str.len() == 2
    year = year.where(~short, (year.astype(int) + np.where(year.astype(int) <= 68, 2000, 1900)).astype(str))
    rewritten = (year + "-" + month.astype(str).str.zfill(2) + "-" + day.astype(str).str.zfill(2)
                 + parts[4][numeric].fillna(""))
    return text.where(~numeric, rewritten), found


def read_taken_at(values: pd.Series) -> TakenAt:
    """Dates as users' files write them (ISO 8601 with or without a zone, EXIF's `2022:06:05 09:00:00`,
    day/month dates in the order the column tells, what pandas reads otherwise), as naive timestamps;
    a date before FIRST_PHOTO_YEAR, after tomorrow or on a clock at zero (CLOCK_AT_ZERO) is null (a
    placeholder or a clock never set), and so is a value without a year (a time alone: pandas would date it
    today).

    >>> taken = read_taken_at(pd.Series(["2022:06:05 09:00:00", "13/01/2022", "12/01/2022 08:30", "0001-01-01",
    ...                                  "soon", None, "12:30", "1970-01-01 00:04:31"]))
    >>> [str(t) for t in taken.moments]
    ['2022-06-05 09:00:00', '2022-01-13 00:00:00', '2022-01-12 08:30:00', 'NaT', 'NaT', 'NaT', 'NaT', 'NaT']
    >>> taken.unreadable, taken.implausible, taken.ambiguous
    (2, 2, 0)

    A zone or fractions of a second are no year, and a clock at zero is read on the date as written:

    >>> taken = read_taken_at(pd.Series(["12:30 +0100", "09:00:00.1234", "1970-01-01 00:04:31+05:00",
    ...                                  "June 5, 2022", "20220605T090000", "2021-12-31 23:30:00-02:00"]))
    >>> [str(t) for t in taken.moments]
    ['NaT', 'NaT', 'NaT', '2022-06-05 00:00:00', '2022-06-05 09:00:00', '2022-01-01 01:30:00']
    """
    raw = pd.Series(values, copy=False)
    given = raw.notna() & (raw.astype("string").str.strip() != "").fillna(False).astype(bool)
    text = raw.astype("string").str.replace(EXIF_DATE, r"\1-\2-\3", regex=True)
    text, found = _numeric_dates(text)
    dated = given & text.str.contains(_HAS_DATE).fillna(False).astype(bool)
    parsed = pd.to_datetime(text.astype(object).where(dated, None), errors="coerce", utc=True, format="mixed")
    parsed = parsed.dt.tz_localize(None).astype("datetime64[us]")
    latest = pd.Timestamp.now() + pd.Timedelta(days=1)
    at_zero = text.str.match(rf"^\s*(?:{_AT_ZERO})").fillna(False).astype(bool).to_numpy()
    implausible = parsed.notna() & ((parsed.dt.year < FIRST_PHOTO_YEAR) | (parsed > latest) | at_zero)
    unreadable = given & parsed.isna()
    found.moments = parsed.where(~implausible)
    found.unreadable, found.implausible = int(unreadable.sum()), int(implausible.sum())
    found.unreadable_example = str(raw[unreadable].iloc[0]) if found.unreadable else ""
    found.implausible_example = str(raw[implausible].iloc[0]) if found.implausible else ""
    return found


def parse_taken_at(values: pd.Series) -> pd.Series:
    """Timestamps (naive) as `read_taken_at` reads them; anything unread or implausible becomes null."""
    return read_taken_at(values).moments
