"""Per-photographer concentration and caps, per label.

Concentration is always measured (top owner's share, effective number of owners
= 1 / sum(share^2)); a cap is applied only when asked for. Capped owners keep photos
spread evenly over time (sorted by taken_at, then photo_id), not just their first N.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema

NO_OWNER_PREFIX = "(no owner) "  # + photo_id: the key of a photo without an owner (both engines)


def owner_keys(catalog: pd.DataFrame) -> pd.Series:
    """owner_id, or for a photo without one a key of its own (unknown owners are not one person)."""
    unknown = NO_OWNER_PREFIX + catalog[schema.PHOTO_ID].astype(str)
    return catalog["owner_id"].where(catalog["owner_id"].notna(), unknown)


def owner_names(cat: pd.DataFrame) -> dict:
    """{owner_id: owner_name} for owners whose name is known (first name seen)."""
    named = cat.loc[cat["owner_name"].notna() & cat["owner_id"].notna(), ["owner_id", "owner_name"]]
    return named.drop_duplicates("owner_id").set_index("owner_id")["owner_name"].astype(str).to_dict()


# How photographers are counted, everywhere (the filter's concentration table, the report's
# Photographers and Splits sections, the split's table; both engines): a photographer is a distinct
# known owner_id. A photo without an owner belongs to no photographer: it is counted apart
# (`no_owner`), never as an owner and never named as a top owner; it still counts in a label's
# photos, so a top owner's share is of all the label's photos. (The split and the owner caps treat
# each such photo as a group of its own, `owner_keys`: unknown owners are not one person.)
CONCENTRATION_COLUMNS = ["label", "photos", "owners", "no_owner", "top_owner", "top_owner_photos",
                         "top_owner_share", "effective_owners"]


def concentration(labels: pd.Series, owner_ids: pd.Series) -> pd.DataFrame:
    """Per label: photos, owners (distinct known photographers), no_owner (photos without one), the
    top owner (the known photographer with most photos; ties by owner_id; None when no photo of the
    label has an owner), their photos and share of all the label's photos, and the effective number
    of photographers 1 / Σ share² over the photos that have an owner (NaN without one).

    >>> table = concentration(pd.Series(list("aaaab")), pd.Series(["x", "x", "y", None, None]))
    >>> table[["label", "owners", "no_owner", "top_owner", "top_owner_share"]].values.tolist()
    [['a', 2, 1, 'x', 0.5], ['b', 0, 1, None, 0.0]]
    """
    frame = pd.DataFrame({"label": labels.to_numpy(), "owner": owner_ids.to_numpy()})
    frame = frame[frame["label"].notna()]
    if frame.empty:
        return pd.DataFrame(columns=CONCENTRATION_COLUMNS)
    counts = frame.dropna(subset=["owner"]).groupby(["label", "owner"]).size().rename("n").reset_index()
    top = counts.sort_values(["label", "n", "owner"], ascending=[True, False, True]).groupby("label").head(1)
    per_label = pd.DataFrame({"photos": frame.groupby("label").size()})
    per_label = per_label.join(counts.assign(square=counts["n"].astype("int64") ** 2).groupby("label").agg(
        owners=("n", "size"), owned=("n", "sum"), square_sum=("square", "sum")))
    per_label = per_label.join(top.set_index("label").rename(columns={"owner": "top_owner", "n": "top_owner_photos"}))
    return concentration_table(per_label.rename_axis("label").reset_index())


def concentration_table(per_label: pd.DataFrame) -> pd.DataFrame:
    """`concentration` from per-label counts (counted in memory or in SQL): label, photos, owners,
    owned (photos with an owner), square_sum (Σ photos² over the owners), top_owner and
    top_owner_photos (missing where no photo has an owner)."""
    table = per_label.sort_values("label", kind="stable").reset_index(drop=True)
    for name in ("owners", "owned", "square_sum", "top_owner_photos"):
        table[name] = table[name].fillna(0).astype("int64")
    table["photos"] = table["photos"].astype("int64")
    table["no_owner"] = table["photos"] - table["owned"]
    table["top_owner"] = table["top_owner"].astype(object).where(table["owners"] > 0, None)
    table["top_owner_share"] = table["top_owner_photos"] / table["photos"]
    # owned² / Σ photos² = 1 / Σ share²: integers until the one division, so both engines agree to the bit
    owned, square = table["owned"].to_numpy("float64"), table["square_sum"].to_numpy("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        table["effective_owners"] = np.where(square > 0, owned * owned / np.where(square > 0, square, 1), np.nan)
    return table[CONCENTRATION_COLUMNS]


# A label mostly one photographer's: the top known owner holds more than DOMINANT_SHARE of its kept
# photos, and it has at least DOMINANT_MIN_PHOTOS. The report's alarm compares top owners' photo counts
# across labels, so it cannot see a small label that is one person's (an audit's dog: 10 of 15 photos,
# and all 10 training photos, by one photographer, z 0.67). Checked on real collections with owners:
# - the long-tail audit's folder (16 labels, 3-72 photos): names dog only (the planted one); with 5
#   photos as the floor it would also name Office (3 of 5) and fungus (4 of 7), ordinary for labels of
#   two or three photographers, whose size the split's note already names;
# - flickr-ferrari's metadata.csv (4 colours): names black, 11 of 19 by one photographer (Damian Morys
#   Foto; red, white, yellow top out at 28-31%): most of black is one person's cars, as the line says;
# - the Flickr recordings (photos_flattened_from_cassettes.csv, one label per recorded list of 5+
#   photos): no tag search or gallery (top shares 3-47%), one group pool (62 of 100 by one member) and
#   every album and photostream (one photographer by design): each of those is one person's photos.
DOMINANT_SHARE = 0.5
DOMINANT_MIN_PHOTOS = 10


def dominated_labels(concentration: pd.DataFrame) -> pd.DataFrame:
    """The rows of a concentration table (`concentration`, either engine) whose top known owner holds
    more than DOMINANT_SHARE of the label's photos, for labels of DOMINANT_MIN_PHOTOS or more; most
    dominated first."""
    table = concentration[concentration["top_owner"].notna()
                          & (concentration["photos"] >= DOMINANT_MIN_PHOTOS)
                          & (concentration["top_owner_photos"] > DOMINANT_SHARE * concentration["photos"])]
    return table.sort_values(["top_owner_share", "label"], ascending=[False, True], kind="stable")


def dominance_lines(concentration: pd.DataFrame) -> list[str]:
    """One line naming the labels that are mostly one photographer's (`dominated_labels`), with the
    fix; none when there are none (the filter's note and the report's warning; both engines).

    >>> table = concentration(pd.Series(["dog"] * 12), pd.Series(["fan"] * 9 + ["a", "b", None]))
    >>> dominance_lines(table)[0][:70]
    "1 label is mostly one photographer's: dog 9 of 12 photos (75%) by fan;"
    """
    table = dominated_labels(concentration)
    if table.empty:
        return []
    named = ", ".join(f"{row.label} {row.top_owner_photos:,} of {row.photos:,} photos ({row.top_owner_share:.0%}) "
                      f"by {row.top_owner}" for row in table.head(5).itertuples())
    more = f", and {len(table) - 5} more" if len(table) > 5 else ""
    return [f"{len(table)} label{' is' if len(table) == 1 else 's are'} mostly one photographer's: {named}{more}; "
            f"a model learns that photographer's camera and subjects as the label, and the split keeps their "
            f"photos on one side: add photos by more photographers (an owner cap that would drop more than "
            "half of a label is held unless --force-caps)"]


# an owner cap dropping more of a label's photos than this is held (audit AB: --max-per-owner 10 took 83 % of a
# one-photographer label and 73 % of one where one photographer has 90 %, all good photos, without a word);
# forced caps dropping more of the labelled photos than this get a warning
MAX_CAPPED_SHARE = 0.5


def share_cap(counts: np.ndarray, max_share: float) -> int | None:
    """Largest per-owner cap m with m <= max_share * sum(min(counts, m)); None if none exists.

    >>> share_cap(np.array([100, 10, 10, 10]), 0.25)
    10
    """
    counts = np.sort(np.asarray(counts))
    for cap in range(int(counts.max()), 0, -1):
        if cap <= max_share * np.minimum(counts, cap).sum():
            return cap
    return None


def tightest_share(counts: np.ndarray) -> float:
    """The smallest max_owner_share that `share_cap` can meet for these per-owner counts: the least
    m / sum(min(counts, m)) over caps m (1 / owners when they all hold as many photos), rounded up to
    4 decimals so that the share shown can be given back.

    >>> tightest_share(np.array([10, 10, 10, 10])), tightest_share(np.array([100, 10, 10]))
    (0.25, 0.3334)
    """
    counts = np.asarray(counts)
    caps = np.arange(1, int(counts.max()) + 1)
    kept = np.minimum(counts[None, :], caps[:, None]).sum(axis=1)
    return float(np.ceil((caps / kept).min() * 1e4 - 1e-9) / 1e4)


def label_cap(counts: np.ndarray, max_per_owner: int | None, max_owner_share: float | None,
              force: bool = False) -> tuple[int | None, str, float | None, int]:
    """(cap, note, tightest, held) of one label from its per-owner photo counts: the smaller of
    `max_per_owner` and the share cap; a share cap that no allocation can meet (fewer owners than
    1 / share) is not applied, the note says so and `tightest` is the tightest share these owners
    allow (None where the share cap can be met or none was asked for). A cap that would drop more than
    MAX_CAPPED_SHARE of the label's photos is held unless `force`: no cap, and `held` is what it would
    have dropped (0 elsewhere). Both engines.

    >>> label_cap(np.array([60]), 10, None), label_cap(np.array([60]), 10, None, force=True)
    ((None, '', None, 50), (10, '', None, 0))
    """
    cap, note, tightest = max_per_owner, "", None
    if max_owner_share is not None:
        by_share = share_cap(counts, max_owner_share)
        if by_share is None:
            tightest = tightest_share(counts)
            note = (f"share cap {max_owner_share:g} unreachable with {len(counts)} owner(s) (the tightest they "
                    f"allow is {tightest:g}): not applied")
        else:
            cap = by_share if cap is None else min(cap, by_share)
    if cap is not None and not force:
        would_drop = int(np.maximum(np.asarray(counts) - cap, 0).sum())
        if would_drop > MAX_CAPPED_SHARE * int(np.sum(counts)):
            return None, note, tightest, would_drop
    return cap, note, tightest, 0




def cap_warnings(caps: pd.DataFrame, concentration: pd.DataFrame, max_owner_share: float | None) -> list[str]:
    """Warnings from the cap table and the concentration table (both engines): a share cap not
    applied to some labels (a stricter share then drops less than a looser one), one line for all
    such labels of one photographer and one for the others, the caps held because they would drop more than
    MAX_CAPPED_SHARE of a label (`label_cap`), and forced caps that drop more than MAX_CAPPED_SHARE of the
    labelled photos (a few photographers hold most of them)."""
    warnings = []
    unreachable = caps[caps["note"].astype(str) != ""]
    owners = concentration.set_index("label")["owners"] if len(concentration) else pd.Series(dtype=int)
    alone = unreachable[unreachable["label"].map(owners).eq(1)]  # one photographer: no share cap can apply
    several = unreachable[~unreachable["label"].isin(alone["label"])]
    # where the share cannot be met, label_cap's cap is --max-per-owner's (none without it)
    per_owner = unreachable["cap"].dropna()
    capped = f"capped only by --max-per-owner {int(per_owner.iloc[0])}" if len(per_owner) else "not capped"
    if len(several) and max_owner_share is not None:
        shown = ", ".join(f"{row.label} {row.tightest_share:g}" for row in several.head(5).itertuples())
        warnings.append(f"--max-owner-share {max_owner_share:g} cannot be met in {len(several)} label(s) with too "
                        f"few owners (the tightest share each allows: {shown}{', …' if len(several) > 5 else ''}): "
                        f"{capped}; give a share they allow, or --max-per-owner")
    if len(alone) and max_owner_share is not None:
        names = ", ".join(alone["label"].head(6).astype(str)) + (", …" if len(alone) > 6 else "")
        hint = "" if len(per_owner) else "; --max-per-owner caps one photographer's photos"
        warnings.append(f"--max-owner-share {max_owner_share:g} cannot apply to {len(alone)} label(s) of a single "
                        f"photographer ({names}): {capped}{hint}")
    held = caps[caps["photos_held"] > 0] if len(caps) else caps
    if len(held):
        sizes = concentration.set_index("label")["photos"]
        shown = ", ".join(f"{row.label} {row.photos_held:,} of {sizes.get(row.label, 0):,}"
                          for row in held.head(6).itertuples())
        warnings.append(f"held: the owner caps would drop more than half of {len(held)} label"
                        f"{'s' if len(held) != 1 else ''} ({shown}{', …' if len(held) > 6 else ''}): not capped "
                        "there; one or a few photographers shot most of them, so any cap takes most of the label; "
                        "add photos by more photographers, or --force-caps to cap them anyway")
    photos = int(concentration["photos"].sum()) if len(concentration) else 0
    capped = int(caps["photos_capped"].sum()) if len(caps) else 0
    if photos and capped > MAX_CAPPED_SHARE * photos:
        per_label = caps.merge(concentration[["label", "photos"]], on="label")
        heavy = per_label[per_label["photos_capped"] > MAX_CAPPED_SHARE * per_label["photos"]]
        named = ", ".join(f"{row.label} {row.photos_capped / row.photos:.0%}" for row in heavy.head(5).itertuples())
        warnings.append(f"the owner caps drop {capped / photos:.0%} of the labelled photos ({capped:,} of {photos:,}; "
                        f"{named}{', …' if len(heavy) > 5 else ''}): a few photographers hold most of them; applied, "
                        "as --force-caps asked; a looser cap keeps more")
    return warnings


# the owner caps' note names the labels they took more than this share of (audit O1: --max-owner-share 0.2 took
# 30 of new_york's 60 photos, exactly half, so not held, under a bare "dropped 47 owner_cap")
NOTED_CAPPED_SHARE = 0.25


def cap_note(caps: pd.DataFrame, concentration: pd.DataFrame, max_per_owner: int | None,
             max_owner_share: float | None) -> list[str]:
    """One note, like the licence filter's, naming the labels the owner caps took more than NOTED_CAPPED_SHARE
    of (label, photos dropped of its kept photos before the caps, percent), most first, six named; none
    when no label lost that much. `caps`: `owner_cap`'s table; `concentration`: the table before the caps.
    Both engines.

    >>> caps = pd.DataFrame({"label": ["new_york", "paris"], "photos_capped": [30, 2]})
    >>> before = pd.DataFrame({"label": ["new_york", "paris"], "photos": [60, 40]})
    >>> cap_note(caps, before, None, 0.2)[0].split("; ")[1]
    '1 label loses over 25% of its photos: new_york 30 of 60 (50%)'
    """
    if not len(caps) or not len(concentration):
        return []
    per_label = caps[["label", "photos_capped"]].merge(concentration[["label", "photos"]], on="label")
    per_label = per_label[per_label["photos"] > 0].assign(share=lambda t: t["photos_capped"] / t["photos"])
    heavy = per_label[per_label["share"] > NOTED_CAPPED_SHARE].sort_values(["share", "label"],
                                                                            ascending=[False, True], kind="stable")
    if heavy.empty:
        return []
    flags = " ".join(([f"--max-per-owner {max_per_owner}"] if max_per_owner is not None else [])
                     + ([f"--max-owner-share {max_owner_share:g}"] if max_owner_share is not None else []))
    dropped, photos = int(per_label["photos_capped"].sum()), int(concentration["photos"].sum())
    named = ", ".join(f"{row.label} {row.photos_capped:,} of {row.photos:,} ({row.share:.0%})"
                      for row in heavy.head(6).itertuples())
    one = len(heavy) == 1
    losing = (f"{len(heavy)} label{' loses' if one else 's lose'} over {NOTED_CAPPED_SHARE:.0%} of "
              f"{'its' if one else 'their'}")
    return [f"the owner caps ({flags}) dropped {dropped:,} of {photos:,} labelled photos ({dropped / photos:.0%}); "
            f"{losing} photos: {named}{', …' if len(heavy) > 6 else ''}; a few photographers shot most of "
            f"{'it' if one else 'them'}: add photos by more photographers, or give a looser cap to keep more"]


def spread_pick(n_photos: int, keep: int) -> np.ndarray:
    """Indices of `keep` photos spread evenly over a time-sorted run of `n_photos`."""
    if keep >= n_photos:
        return np.arange(n_photos)
    return np.unique(np.round(np.linspace(0, n_photos - 1, keep)).astype(int))


def owner_cap(catalog: pd.DataFrame, kept: pd.Series, max_per_owner: int | None,
              max_owner_share: float | None, force: bool = False) -> tuple[pd.Series, pd.DataFrame]:
    """(is_capped, per-label cap table) for kept, labelled rows.

    The cap for a label is the smaller of `max_per_owner` and the share cap; a share cap
    that no allocation can meet (e.g. a single-owner label) is skipped and noted; a cap that would
    drop more than half of a label is held unless `force` (`label_cap`).
    """
    is_capped = pd.Series(False, index=catalog.index)
    rows = []
    eligible = catalog[kept & catalog["label"].notna()]
    owners = owner_keys(eligible)
    for label, group in eligible.groupby("label", sort=True):
        counts = owners[group.index].value_counts()
        cap, note, tightest, held = label_cap(counts.to_numpy(), max_per_owner, max_owner_share, force)
        over = counts[counts > cap] if cap is not None else counts.iloc[:0]
        for owner in over.index:
            photos = group[owners[group.index] == owner].sort_values(["taken_at", schema.PHOTO_ID], na_position="last")
            keep_positions = spread_pick(len(photos), cap)
            is_capped[photos.index.delete(keep_positions)] = True
        rows.append({"label": label, "cap": cap, "owners_capped": len(over),
                     "photos_capped": int(is_capped[group.index].sum()), "note": note, "tightest_share": tightest,
                     "photos_held": held})
    return is_capped, cap_table(rows)


# the per-label cap table's columns (both engines); tightest_share: the tightest share a label's owners
# allow where --max-owner-share cannot be met there (NaN elsewhere); photos_held: what a held cap would drop
CAP_COLUMNS = ["label", "cap", "owners_capped", "photos_capped", "note", "tightest_share", "photos_held"]


def cap_table(rows: list[dict]) -> pd.DataFrame:
    """The per-label cap table of both engines: caps as whole numbers (none where no cap applies),
    not floats ("2.0") because one label has none."""
    table = pd.DataFrame(rows, columns=CAP_COLUMNS)
    return table.astype({"cap": "Int64", "tightest_share": "float64", "photos_held": "int64"})
