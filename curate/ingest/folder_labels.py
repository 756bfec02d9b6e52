"""What `curate ingest folder` tells the user about its labels before curating (warnings only, no
I/O): split folders (train/, test/) read as the labels, label folders holding their photos in
subfolders, photos beside the label folders, one label in several spellings, labels a recipe does
not declare; and the recipe's names for folder and column labels (`recipe_label_names`)."""

from __future__ import annotations

import math
import re

import pandas as pd

from curate.recipes import Recipe, squash
from curate.records import clean_text, one_label, several_labels, several_labels_warning
from curate.stage_reports import names_text

SHOWN = 4  # names a label message lists before '… and N more'

SPLIT_FOLDER_NAMES = frozenset({"train", "training", "val", "valid", "validation", "dev", "test", "testing"})
# First-level folders that store photos rather than name classes: a downloader's numbered shards (img2dataset
# writes 00000/, 00001/, ...: five digits or more), a camera's DCF folders (DCIM/, 100CANON/, 101MSDCF/) and
# Google Takeout's year folders (Photos from 2019/) and Flickr's account export (data-download-1/, ...).
STORAGE_FOLDER = re.compile(r"\d{5,}|dcim|\d{3}[a-z0-9_]{5}|photos from \d{4}|data-download-\d+", re.IGNORECASE)
# A tar shard or Parquet file numbered the WebDataset or img2dataset way (`train-000000.tar`, `shard_0042.tar`,
# `00000.tar`, `00000.parquet`, Hugging Face's `train-00000-of-00004.parquet`; `curate export` writes
# `<split>-%06d.tar`): a slice of a collection, not a class (`cats.tar` and `cats.parquet` are one).
SHARD_FILE = re.compile(r"(?:.*[-_.])?\d{4,}\.(?:tar|parquet)", re.IGNORECASE)


def first_folders(files: pd.Series) -> list[str]:
    """The first-level folders of `files` (relative paths), sorted."""
    paths = files.dropna().astype(str)
    return sorted(set(paths[paths.str.contains("/", regex=False)].str.split("/", n=1).str[0]))


def storage_folders(files: pd.Series) -> list[str]:
    """The first-level folders of `files` (relative paths), sorted, that store photos rather than name a
    class: a download's shards, a camera's folders, Takeout's year folders (`STORAGE_FOLDER`), numbered tar
    shards and Parquet files (`SHARD_FILE`).

    >>> storage_folders(pd.Series(["00000/000000001.jpg", "00001/000010000.jpg", "notes.jpg"]))
    ['00000', '00001']
    >>> storage_folders(pd.Series(["DCIM/100CANON/1.JPG"])), storage_folders(pd.Series(["00000/a.jpg", "cat/b.jpg"]))
    (['DCIM'], ['00000'])
    >>> storage_folders(pd.Series(["00000.tar/1.jpg", "train-000000.tar/2.jpg"]))  # WebDataset shards
    ['00000.tar', 'train-000000.tar']
    >>> storage_folders(pd.Series(["cats.tar/1.jpg", "dogs.tar/2.jpg"]))  # a tar per class
    []
    >>> storage_folders(pd.Series(["00000.parquet/0.jpg", "train-00000-of-00002.parquet/1.jpg", "cats.parquet/2.jpg"]))
    ['00000.parquet', 'train-00000-of-00002.parquet']
    >>> storage_folders(pd.Series(["0/a.png", "1/b.png"])), storage_folders(pd.Series(["2019/a.jpg"]))  # digits, years
    ([], [])
    """
    return [name for name in first_folders(files) if STORAGE_FOLDER.fullmatch(name) or SHARD_FILE.fullmatch(name)]


def label_warnings(records: pd.DataFrame, label_source: str, has_recipe: bool,
                   column_labels: pd.Series | None = None, auto: bool = False) -> list[str]:
    """What about the labels a user would want to hear before curating: a folder of split folders
    (train/, test/ each holding the classes) read as the labels, photos beside the label folders,
    no label at all, a metadata label column that the folders overrule and disagree with, and (`auto`:
    the label source was not given) subfolders not taken as labels because they are shards or a
    camera's folders."""
    files = records["file"].astype("string")
    depth = files.str.count("/").fillna(0)
    warnings = []
    storage = storage_folders(records["file"]) if auto else []
    if storage and label_source != "folder":  # every subfolder stores photos: no folder labels at all
        shown = names_text(storage, SHOWN)
        label_from = "a metadata label column" if label_source == "column" else (
            "the tags" if has_recipe else "nowhere: no photo has a label")
        warnings.append(f"the subfolders ({shown}) are numbered like a download's shards (img2dataset) or a "
                        f"camera's or an export's folders, not named like classes, so they are not taken as labels "
                        f"(labels come from {label_from}); pass --label-from folder to take them anyway, "
                        f"--label-column COLUMN or --label-from tags --recipe NAME to label the photos, or "
                        f"--label-from none")
    elif storage:  # some subfolders store photos, the others name classes (Takeout: years beside albums)
        first = files.str.split("/", n=1).str[0]
        count = int((first.isin(storage) & (depth > 0)).sum())
        warnings.append(f"the subfolders {names_text(storage, SHOWN)} look like a download's shards or a camera's "
                        f"or an export's folders (Google Takeout's `Photos from 2019`), not classes: their "
                        f"{count:,} photo{'s get' if count != 1 else ' gets'} no label, while the other subfolders "
                        f"name labels (a copy of such a photo in one of those keeps its label); pass --label-from "
                        f"folder to take them as labels too")
    if "label" not in records:  # (a sidecar whose rows name no photo of the folder: no label column at all)
        records = records.assign(label=None)
    if label_source == "folder":
        labelled = records["label"].notna()
        warnings += nested_label_warnings(files, records["label"])
        loose = records.loc[~labelled & (depth == 0) & files.notna(), "file"]
        if len(loose):
            one = len(loose) == 1
            warnings.append(f"{len(loose):,} photo{'' if one else 's'} sit{'s' if one else ''} beside the label "
                            f"folders (e.g. {loose.iloc[0]}) and get{'s' if one else ''} no label; move "
                            f"{'it' if one else 'them'} into a label folder (unlabelled photos are left out of "
                            "`curate export`)")
        if column_labels is not None:
            given = column_labels.map(lambda value: None if is_blank(value) else str(value))
            differ = given.notna() & labelled & (given != records["label"])
            if differ.any():
                first = differ.idxmax()
                count, plural = int(differ.sum()), "s" if differ.sum() != 1 else ""
                warnings.append(f"the metadata's label column disagrees with the label folder for {count:,} "
                                f"photo{plural} (e.g. {records.at[first, 'file']}: folder {records.at[first, 'label']}"
                                f", column {given[first]}); the labels come from the folders (pass --label-from "
                                "column to take the column's)")
    elif label_source == "column" and ("label" not in records
                                       or not records["label"].map(lambda value: not is_blank(value)).any()):
        warnings.append("the metadata's label column is empty for every photo, so no photo has a label; fill it, "
                        "or take labels from label subfolders or the tags (--label-from folder|tags)")
    elif label_source == "column":
        several = several_labels(records["label"])
        blank = records["label"].map(lambda value: is_blank(one_label(value))) & ~several & records["file"].notna()
        if blank.any():
            first, count = blank.idxmax(), int(blank.sum())
            warnings.append(f"{count:,} of {len(records):,} photos have no label in the metadata's label column (e.g. "
                            f"{records.at[first, 'file']}); unlabelled photos are left out of training and of "
                            "`curate export`")
        warning = several_labels_warning(several, records["label"], records["file"], "photo",
                                         "the metadata's label column", "keep one per photo in the metadata, or take "
                                         "labels from label subfolders or the tags (--label-from folder|tags)")
        warnings += [warning] if warning else []
    elif label_source == "tags" and not has_recipe and not storage:
        warnings.append("no photo has a label: the folder has no label subfolders and the metadata no label column; "
                        "put the photos in one subfolder per label, pass --metadata with a label column, or "
                        "--label-from tags --recipe NAME (--label-from none says no labels are wanted)")
    return warnings


def nested_label_warnings(files: pd.Series, labels: pd.Series) -> list[str]:
    """Label folders that hold most of their photos in subfolders (`Europe/Rome/x.jpg`): the label is
    the first-level folder, so `Europe/{Rome,Berlin}` would be one class. One line: for a dataset's
    split folders (train/, test/) or a single folder holding the classes, the advice to ingest
    `DIR/train`; else the labels concerned, each with its subfolders. A label with a subfolder whose
    name recurs under another label (`coast/2019`, `forest/2019`: years, sessions) is taken to group
    its photos, not to hold classes, and is not named.

    `files`: relative paths; `labels`: the first-level folder of each (null for a photo beside them).
    """
    labelled = labels.notna() & files.notna()
    if not labelled.any():
        return []
    parts = files[labelled].str.split("/")
    nested = parts.str.len() >= 3  # label/subfolder/photo
    label_of = labels[labelled].astype(str)
    names = sorted(label_of.unique())
    if nested.sum() >= 0.9 * len(nested) and (len(names) == 1 or
                                              {name.lower() for name in names} <= SPLIT_FOLDER_NAMES):
        inner = sorted(parts[nested].str[1].unique())
        example = _single_path(files[labelled & (labels == names[0])])
        return [f"the labels are the first-level folders ({_names(names)}), and they hold subfolders "
                f"({_names(inner)}) with {nested.mean():.0%} of the photos; if those subfolders are the "
                f"classes, ingest each of {_names(names)} on its own (e.g. `curate ingest folder DIR/{example}`)"]
    pairs = pd.DataFrame({"label": label_of[nested], "subfolder": parts[nested].str[1]}).drop_duplicates()
    recurring = pairs.groupby("subfolder")["label"].transform("size") > 1
    own = set(pairs["label"]) - set(pairs.loc[recurring, "label"])  # no subfolder name shared with another label
    counts = pd.DataFrame({"label": label_of, "nested": nested}).groupby("label")["nested"].agg(["sum", "size"])
    mostly = counts[(counts["sum"] * 2 > counts["size"]) & counts.index.isin(own)]
    if mostly.empty:
        return []
    described = [f"label {name}: {int(row['sum']):,} of its {int(row['size']):,} photos are in subfolders "
                 f"({_names(sorted(pairs.loc[pairs['label'] == name, 'subfolder']))})"
                 for name, row in mostly.iterrows()]
    more = f" (and {len(described) - 4} more labels like these)" if len(described) > 4 else ""
    example = _single_path(files[labelled & (labels == mostly.index[0])])
    return ["; ".join(described[:4]) + more + "; did you mean those as labels? Only the first-level folder is a "
            "label, so a label's subfolders are merged into one class; to label by the subfolders, move them up a "
            f"level or ingest the label folder on its own (e.g. `curate ingest folder DIR/{example}`)"]


def _single_path(files: pd.Series) -> str:
    """The folder to ingest so that the level below it names the labels, for `files` (relative paths under one
    first-level folder): the deepest folder holding them all, so that a wrapper with one folder inside
    (Takeout/Google Photos/) is gone through; one level up when all of them lie in it directly.

    >>> _single_path(pd.Series(["Takeout/Google Photos/Rome/1.jpg", "Takeout/Google Photos/Paris/2.jpg"]))
    'Takeout/Google Photos'
    >>> _single_path(pd.Series(["cats/indoor/1.jpg", "cats/2.jpg"])), _single_path(pd.Series(["cats/indoor/1.jpg"]))
    ('cats', 'cats')
    """
    folders = [path.split("/")[:-1] for path in files.dropna().astype(str)]
    common = folders[0] if folders else []
    for parts in folders[1:]:
        same = 0
        while same < min(len(common), len(parts)) and common[same] == parts[same]:
            same += 1
        common = common[:same]
    if len(common) > 1 and all(len(parts) == len(common) for parts in folders):
        common = common[:-1]
    return "/".join(common)


def recipe_label_names(labels: pd.Series, recipe: Recipe) -> pd.Series:
    """Each label as the recipe names it: one that matches a declared label's name, display name or
    alias under the recipe's normaliser (`curate.recipes.squash`: NFC, case, spaces and
    punctuation ignored) takes that label's name (`PARIS`, `paris` -> `Paris`); any other stays as given
    (trimmed, NFC). Nulls stay null.

    >>> from curate.recipes import Label
    >>> paris = Recipe("r", (Label("Paris", "Paris", aliases=("lutece",)),))
    >>> recipe_label_names(pd.Series(["PARIS", " paris", "Lutèce", "Lutece", None]), paris).tolist()
    ['Paris', 'Paris', 'Lutèce', 'Paris', None]
    """
    index, names = recipe.tag_index(), recipe.label_names
    clean = clean_text(labels)
    named = clean.map(lambda label: names[index[key]] if (key := squash(label)) in index else label, na_action="ignore")
    return named.astype(object).where(clean.notna(), None)


def label_spelling_warnings(labels: pd.Series, recipe: Recipe | None, label_source: str) -> list[str]:
    """Folder or column labels that are one label in several spellings (`Paris`, `PARIS`, `paris`: equal
    under `curate.recipes.squash`), and, with a recipe, labels it does not declare. At most three lines:
    spellings the recipe merges into one of its labels (see `recipe_label_names`); spellings that stay
    separate classes, with how to merge them; labels the recipe does not declare (kept as they are)."""
    counts = clean_text(labels).dropna().astype(str).value_counts()  # spelling -> photos
    index = recipe.tag_index() if recipe is not None else {}
    groups: dict[str, list[str]] = {}
    ordered = sorted(counts.index, key=lambda name: (-counts[name], name))  # most photos first
    for spelling in ordered:
        groups.setdefault(squash(spelling), []).append(spelling)
    spread = sorted((spellings for spellings in groups.values() if len(spellings) > 1),
                    key=lambda spellings: -counts[spellings].sum())
    merged = [spellings for spellings in spread if squash(spellings[0]) in index]
    apart = [spellings for spellings in spread if squash(spellings[0]) not in index]
    rename = "rename the label folders" if label_source == "folder" else "change the label column"
    where = "the folder names" if label_source == "folder" else "the label column"
    warnings = []
    if merged:
        names = recipe.label_names
        groups_text = "; ".join(f"{_counted(spellings, counts)} -> {names[index[squash(spellings[0])]]}"
                                for spellings in merged)
        warnings.append(f"labels that differ only in case, spaces or punctuation are merged into the "
                        f"recipe's label: {groups_text}")
    if apart:
        declare = (f"add the label to recipe {recipe.name}'s [[labels]]" if recipe is not None and recipe.labels
                   else f"list the label in recipe {recipe.name}'s [[labels]]" if recipe is not None
                   else "pass --recipe NAME declaring the label")
        warnings.append(f"labels that differ only in case, spaces or punctuation are separate classes: "
                        f"{'; '.join(_counted(spellings, counts) for spellings in apart)}; to merge them, "
                        f"{rename} to one spelling, or {declare} (a label that matches a recipe label but for "
                        "case, spaces or punctuation takes its name)")
    # a recipe without [[labels]] takes the labels as they come: none is undeclared
    undeclared = [spelling for spelling in ordered if recipe is not None and recipe.labels
                  and squash(spelling) not in index]
    if undeclared:
        one = len(undeclared) == 1
        listed = (f"label {_counted(undeclared, counts)} is" if one else
                  f"{len(undeclared):,} labels ({int(counts[undeclared].sum()):,} photos) are")
        warnings.append(f"{listed} not among recipe {recipe.name}'s labels ({_names(list(recipe.label_names))}) "
                        f"and kept as given{'' if one else ': ' + _counted(undeclared, counts)}; if "
                        f"{'it is' if one else 'they are'} meant, add {'it' if one else 'them'} to the recipe's "
                        f"[[labels]], else give {'it' if one else 'them'} a recipe label's name (or alias) in {where}")
    return warnings


def _counted(spellings: list[str], counts: pd.Series) -> str:
    """'Paris (60 photos), PARIS (15), paris (15)' for a message (at most four named)."""
    shown = [f"{name} ({counts[name]:,}{' photo' if counts[name] == 1 else ' photos'})" if number == 0
             else f"{name} ({counts[name]:,})" for number, name in enumerate(spellings)]
    return _names(shown)


def _names(names) -> str:
    """'a, b, c, d, … and 5 more': the shared format, four names at most in a label message."""
    return names_text(names, SHOWN)


def is_blank(value: object) -> bool:
    """A missing cell: None, NA, NaT, NaN or text of spaces only."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()
