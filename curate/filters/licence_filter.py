"""The filter's licence step (curate.filters.stage, step 1): drop kept photos whose licence is not among
`--licences`, unless most photos carry no licence curate can read (the source gives none: the drops are held);
the notes and warnings it gives are shared with the DuckDB engine (curate.outofcore.filter)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import licences, schema
from curate.filters import quality
from curate.filters.config import STAGE, FilterConfig
from curate.records import apply_drops

# The licence filter holds its drops of photos without licence data when more than this share of
# the photos it judges have none (or one curate does not recognise): the source gives no licences
# (a folder without a sidecar), so dropping them would empty the collection, not clean it.
MAX_UNLICENSED_SHARE = 0.5


def licence_filter(out: pd.DataFrame, config: FilterConfig, notes: list[str], warnings: list[str]) -> pd.DataFrame:
    """Drop kept photos whose licence is not allowed (a missing or unrecognised one never is), but hold
    the drops of those without a readable licence when they are most of the photos judged
    (`licence_hold`): the source gives no licence data, and dropping would empty the collection."""
    if config.licences is None:
        return out
    allowed = licences.licence_allowed(out["license"], config.licences)
    kept = (out["status"] == schema.KEPT).to_numpy()
    given = out["license"].notna().to_numpy()
    readable = given & out["license"].map(licences.canonical_licence, na_action="ignore").notna().to_numpy()
    unknown = out.loc[kept & given & ~readable, "license"].value_counts()
    unknown = unknown.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    held = licence_hold(int(kept.sum()), int((kept & ~readable).sum()), config, notes, warnings)
    notes += licence_notes(int((kept & ~given).sum()), list(unknown.items()), held)
    dropped = ~allowed & ~(held & ~readable)
    labels = out["label"].fillna(schema.NO_LABEL)
    notes += licence_drop_note(list(out.loc[kept & readable & ~allowed, "license"].value_counts().items()),
                               labels[kept].value_counts(), labels[kept & dropped].value_counts(), config)
    out = apply_drops(out, pd.Series(np.where(dropped, "licence", None)), STAGE)
    if (kept & readable).any() and not (out["status"] == schema.KEPT).any():
        shown = out.loc[kept, "license"].fillna("(none)").value_counts()
        warnings.append(every_photo_licence_warning(list(shown.sort_index(kind="stable")
                                                         .sort_values(ascending=False, kind="stable").items()),
                                                    config))
    return out


def licence_hold(judged: int, unreadable: int, config: FilterConfig, notes: list[str],
                 warnings: list[str]) -> bool:
    """Whether the licence filter holds the drops of photos without a readable licence: more than
    MAX_UNLICENSED_SHARE of the `judged` kept photos have none (missing, or text curate does not
    recognise) and force_licences is off. Says why in a warning (or a note when forced).
    Shared with the DuckDB engine."""
    if not judged or unreadable <= MAX_UNLICENSED_SHARE * judged:
        return False
    why = (f"{unreadable:,} of {judged:,} photos ({unreadable / judged:.0%}) have no licence curate can read "
           "(none given, or text it does not recognise)")
    if config.force_licences:
        notes.append(f"dropped anyway (--force-licences) although {why}")
        return False
    warnings.append(f"held: {why}: kept, not dropped as licence; add a license column to the --metadata sidecar, "
                    "or pass --force-licences to drop them")
    return True


def licence_notes(missing: int, unknown: list[tuple[str, int]], held: bool) -> list[str]:
    """The licence filter's notes: photos without a licence, and the unrecognised texts (five named)."""
    fate = "kept (the licence drops are held)" if held else "dropped as licence"
    lines = []
    if missing:
        lines.append(f"{missing} photos have no licence: {fate}" + ("" if held else " (a licence filter is set)"))
    if unknown:
        shown = ", ".join(f"{name!r} ({count})" for name, count in unknown[:5])
        lines.append(f"{sum(n for _, n in unknown)} photos have a licence curate does not recognise, {fate}: "
                     f"{shown}{' …' if len(unknown) > 5 else ''}")
    return lines


def licence_drop_note(refused: list[tuple[str, int]], photos: pd.Series, lost: pd.Series,
                      config: FilterConfig) -> list[str]:
    """One note on the licence drops (both engines): the licences refused, by canonical name, and the labels
    losing more than quality.NOTED_LABEL_SHARE of their photos (audit AE: `--licences cc-by` dropped 41 % of the
    real Ferrari folder, all cc-by-sa-2.0, 56 % of `white`, under a bare `dropped 41 licence`). `refused`:
    (licence text, photos) of the readable licences not allowed; `photos` / `lost`: label -> kept photos
    before the step / dropped by it.

    >>> licence_drop_note([("CC BY-SA 2.0", 41)], pd.Series({"white": 25, "red": 75}), pd.Series({"white": 14,
    ...                   "red": 27}), FilterConfig(licences=("cc-by",)))[0][:78]
    '--licences cc-by dropped 41 of 100 photos (41%): cc-by-sa-2.0 41 not allowed; '
    """
    dropped = int(lost.sum())
    if not dropped:
        return []
    by_name: dict[str, int] = {}
    for text, n in refused:
        name = licences.canonical_licence(text) or str(text)
        by_name[name] = by_name.get(name, 0) + int(n)
    named = ", ".join(f"{name} {n:,}" for name, n in sorted(by_name.items(), key=lambda item: (-item[1], item[0])))
    unreadable = dropped - sum(by_name.values())
    parts = ([f"{named} not allowed"] if named else []) + \
        ([f"{unreadable:,} without a licence curate reads"] if unreadable > 0 else [])
    labels = quality.losing_labels(lost, photos)
    total = int(photos.sum())
    return [f"--licences {','.join(config.licences or ())} dropped {dropped:,} of {total:,} photos "
            f"({dropped / total:.0%}): {'; '.join(parts)}{labels}"]


def every_photo_licence_warning(licence_counts: list[tuple[str, int]], config: FilterConfig) -> str:
    """One line when the licence filter left no photo kept though some carry a licence: which licences they carry."""
    shown = ", ".join(f"{name} ({count:,})" for name, count in licence_counts[:5])
    return (f"the licence filter dropped every photo: none carries an allowed licence ({', '.join(config.licences)}); "
            f"they carry {shown}{' …' if len(licence_counts) > 5 else ''}; check --licences")
