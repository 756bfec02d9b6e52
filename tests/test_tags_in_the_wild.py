"""Tags as scrapes and spreadsheets write them, and recipe labels matched the way Flickr cleans tags
(audit CG, 2026-12-07: F1 punctuation, F2 hashtags and quoted tags, F3/F5 labels that clash, F6 a label no
tag names, F7 the topic's matching; audit CK HIGH 1: quoted multi-word tags and pandas' list text)."""

from __future__ import annotations

import io
import unicodedata

import duckdb
import numpy as np
import pandas as pd
import pytest
from helpers import jpeg_bytes
from typer.testing import CliRunner

from curate.cli.app import app
from curate.errors import UsageError
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob
from curate.outofcore.report import topic_tagged_sql
from curate.prefilter.topic import topic_tagged
from curate.recipes import load_recipe, recipe_from_dict
from curate.records import records_to_rows
from curate.tags import normalise_tag, parse_tags
from curate.workspace import Workspace, read_catalog

runner = CliRunner()
NFD = lambda text: unicodedata.normalize("NFD", text)  # noqa: E731

# audit CG's recipe `wild.toml`, its labels as written there
WILD = {"name": "wild", "topic": "skyline", "labels": [
    {"name": "東京", "display": "Tokyo", "aliases": ["tokio"]},
    {"name": "São Paulo", "aliases": ["sao paulo"]},
    {"name": "Zürich", "aliases": ["zurich", "zuerich"]},
    {"name": "Москва", "display": "Moscow"},
    {"name": "Kraków", "aliases": ["krakow", "cracow"]},
    {"name": "St. John's", "aliases": ["saint john's"]},
    {"name": "AC/DC"},
    {"name": "new york", "aliases": ["nyc"]},
    {"name": "Paris"},
    {"name": "Rome", "aliases": ["roma"]},
    {"name": "Ferté-Milon"},
]}


def labels_of(cells: list, recipe) -> list:
    """The label each tags cell gives a photo (None: no label or several)."""
    rows = records_to_rows(pd.DataFrame({"source_id": [str(n) for n in range(len(cells))], "tags": cells}), "t",
                           recipe)
    return [None if pd.isna(label) else label for label in rows["label"]]


# --- how a tags cell is split (F2, CK 1) -----------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [
    ('"new york" skyline night', ["new york", "skyline", "night"]),  # Flickr's syntax for a tag of two words
    ('"empire state building" "New York" nyc', ["empire state building", "new york", "nyc"]),
    ("['chicago', 'skyline', 'night']", ["chicago", "skyline", "night"]),  # a Python list's text
    ("['chicago' 'skyline']", ["chicago", "skyline"]),  # a NumPy array's text
    ("[\"st. john's\", 'ac/dc']", ["st. john's", "ac/dc"]),
    ("#paris,france", ["paris", "france"]),
    ("#skyline #Paris", ["skyline", "paris"]),
    ('"paris" france', ["paris", "france"]),
    ("'chicago', 'skyline'", ["chicago", "skyline"]),
    ("paris;france;skyline", ["paris", "france", "skyline"]),  # Lightroom / exiftool -sep ";"
    ("nyc; skyline", ["nyc", "skyline"]),
    ('"paris, france", skyline', ["paris, france", "skyline"]),
    ('"new york", "skyline"', ["new york", "skyline"]),
    # kept as they were: JSON lists, commas, machine tags verbatim, an apostrophe that quotes nothing
    ('["Tokyo", "東京", ""]', ["tokyo", "東京"]),
    ("new york, skyline, ,", ["new york", "skyline"]),
    ('dc:subject="new york" geo:locality=paris', ['dc:subject="new york"', "geo:locality=paris"]),
    ("St. John's,AC/DC", ["st. john's", "ac/dc"]),
    ("'80s skyline", ["'80s", "skyline"]),
    ('# "" \'\'', []),
])
def test_a_tags_cell_is_split_as_its_writer_meant(cell, expected):
    assert parse_tags(cell) == expected


def test_a_list_column_written_by_pandas_reads_back_as_its_tags():
    """CK 1: `DataFrame.to_csv` writes a list column as the list's text; read back, it is the same tags."""
    tags = [["chicago", "skyline", "night"], ["new york", "st. john's", "l'été"], ["東京"]]
    text = pd.DataFrame({"file": ["a.jpg", "b.jpg", "c.jpg"], "tags": tags}).to_csv(index=False)
    cells = pd.read_csv(io.StringIO(text), dtype=str)["tags"]
    assert [parse_tags(cell) for cell in cells] == tags
    arrays = pd.DataFrame({"tags": [np.array(t) for t in tags]}).to_csv(index=False)  # a Parquet list column
    assert [parse_tags(cell) for cell in pd.read_csv(io.StringIO(arrays), dtype=str)["tags"]] == tags


def test_hashtags_quoted_and_listed_tags_name_their_label():
    """F2 / CK 1: each of these cells names its city (none did: `#london`, `"new`, `'chicago'` named nothing)."""
    skylines = load_recipe("skylines")
    cells = ["#london,england", "#skyline #London", '"london" england', '"new york" skyline night',
             "['chicago', 'skyline', 'night']", "tokyo;skyline"]
    assert labels_of(cells, skylines) == ["london", "london", "london", "new_york", "chicago", "tokyo"]


# --- label keys: Flickr's cleaning (F1) --------------------------------------------------------------------------

def test_a_label_with_punctuation_matches_flickrs_cleaned_tag():
    wild = recipe_from_dict(WILD)
    cells = ["acdc", "ACDC concert", "ac-dc", "AC/DC", "stjohns harbour", "St. John's", "st johns",
             "saint johns", "fertémilon", "Ferté-Milon", "sãopaulo brasil", "geo:locality=stjohns"]
    assert labels_of(cells, wild) == ["AC/DC"] * 4 + ["St. John's"] * 4 + ["Ferté-Milon"] * 2 + ["São Paulo",
                                                                                                  "St. John's"]


def test_words_that_only_begin_with_a_label_stay_unlabelled():
    """The audit's traps: a longer word is not its label, with punctuation ignored or not."""
    wild = recipe_from_dict(WILD)
    traps = ["parisian", "romeo", "newyorker", "東京タワー", "zürichsee", "paris-ian", "rome.o", "acdcs"]
    assert labels_of(traps, wild) == [None] * len(traps)


# --- labels that clash are refused at load (F3, F5) ----------------------------------------------------------

@pytest.mark.parametrize("labels, named", [
    ([{"name": "São Paulo"}, {"name": NFD("São Paulo"), "aliases": ["saopaulo"]}],  # each written out, escaped
     [ascii("São Paulo"), ascii(NFD("São Paulo")), "NFC"]),
    ([{"name": "Paris"}, {"name": "paris", "aliases": ["#paris"]}], ["'Paris'", "'paris'"]),
    ([{"name": "Rome"}, {"name": "Roma", "aliases": ["rome"]}], ["'Rome'", "alias 'rome' of label 'Roma'"]),
    ([{"name": "Roma", "aliases": ["rome"]}, {"name": "Rome"}], ["alias 'rome' of label 'Roma'", "'Rome'"]),
    ([{"name": "AC/DC"}, {"name": "acdc"}], ["'AC/DC'", "'acdc'"]),
    ([{"name": "Tokyo"}, {"name": "東京", "display": "TOKYO"}], ["'Tokyo'", "display name 'TOKYO' of label '東京'"]),
])
def test_labels_the_tags_cannot_tell_apart_are_refused_naming_both(labels, named):
    with pytest.raises(UsageError) as error:
        recipe_from_dict({"name": "collide", "labels": labels}, where="collide.toml")
    message = str(error.value)
    assert "\n" not in message and message.startswith("collide.toml")
    assert all(name in message for name in named), message
    assert "merge" in message  # and how to fix it


def test_labels_are_nfc_at_load():
    recipe = recipe_from_dict({"name": "r", "labels": [{"name": NFD("Zürich"), "display": NFD("Zürich"),
                                                        "aliases": [NFD("Zürichstadt")]}]})
    label = recipe.labels[0]
    assert [unicodedata.is_normalized("NFC", text) for text in label.spellings()] == [True, True, True]
    assert labels_of(["zürich", NFD("ZÜRICH")], recipe) == [label.name, label.name]


def test_curate_run_refuses_a_recipe_whose_labels_clash(tmp_path):
    """F5: `curate run collide.toml --dry-run` accepted `Paris` and `paris`; now one line, exit 2."""
    path = tmp_path / "collide.toml"
    path.write_text('name = "collide"\n[[labels]]\nname = "Rome"\n[[labels]]\nname = "Roma"\naliases = ["rome"]\n'
                    '[[sources]]\nkind = "folder"\nfolder = "photos"\nlabel_source = "tags"\n', encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "'Rome'" in result.output and "'Roma'" in result.output


# --- the topic, matched as labels are (F7) -----------------------------------------------------------------

def test_the_topic_is_matched_with_the_label_rules():
    tags = pd.Series([["sky-line"], ["sky line"], ["skyline!"], ['dc:subject="sky-line"'], ["skylines"],
                      ["skyline:view"], ["skyscraper"], []], dtype=object)
    expected = [True, True, True, True, False, False, False, False]
    assert topic_tagged(tags, "skyline").tolist() == expected
    assert topic_tagged(tags, " Sky_Line ").tolist() == expected  # as typed on the command line
    nfc = pd.Series([["zürich"], ["zuerich"]], dtype=object)
    assert topic_tagged(nfc, NFD("Zürich")).tolist() == [True, False]  # an NFD topic (a macOS shell, a pasted name)


def test_the_out_of_core_report_counts_the_topic_as_the_prefilter_does():
    tags = [["sky-line"], ["skyline"], ["dc:subject=sky.line"], ["skylines"], ["x", "SKY LINE"], [], ["zürich"],
            ["🌃"], ["#"]]
    tags = [[normalise_tag(tag) for tag in row] for row in tags]  # as ingest stores them (NFC, case folded)
    con = duckdb.connect()
    con.register("photos", pd.DataFrame({"tags": tags}))
    for topic in ("skyline", " Sky-Line", NFD("Zürich"), "🌃"):
        in_sql = [bool(row[0]) for row in con.execute(f"SELECT {topic_tagged_sql(topic)} FROM photos").fetchall()]
        assert in_sql == topic_tagged(pd.Series(tags, dtype=object), topic).tolist(), topic


# --- a declared label no tag names is a warning at ingest (F6) -----------------------------------------------

ZERO = {"name": "zero", "labels": [{"name": "Oslo"}, {"name": "Paris"}]}


def test_every_source_warns_of_a_label_no_photos_tags_name(tmp_path):
    """The engine says it for any source that labels by tags (urls, flickr, commons, demo, folder)."""
    recipe = recipe_from_dict(ZERO)
    records = pd.DataFrame({"source_id": ["1", "2", "3", "4"],
                            "tags": ["paris", "olso fjord", "olso", "eiffel tower"]})
    report = run_ingest(Workspace(tmp_path / "ws"), IngestJob("urls", records, None, recipe))
    unnamed = [warning for warning in report.warnings if "named by no photo's tags" in warning]
    assert len(unnamed) == 1 and "Oslo" in unnamed[0] and "Paris" not in unnamed[0]
    assert "olso 2" in unnamed[0]  # the common tag that looks like it, with its photos
    named = records.assign(tags=["paris", "oslo", "oslo", "x"])
    report = run_ingest(Workspace(tmp_path / "ws2"), IngestJob("urls", named, None, recipe))
    assert not any("named by no photo's tags" in warning for warning in report.warnings)


def test_a_source_that_gives_its_labels_is_not_told_of_unnamed_recipe_labels(tmp_path):
    recipe = recipe_from_dict(ZERO)
    records = pd.DataFrame({"source_id": ["1", "2"], "tags": ["paris", "x"], "label": ["Paris", "Paris"]})
    report = run_ingest(Workspace(tmp_path / "ws"), IngestJob("urls", records, None, recipe))
    assert not any("named by no photo's tags" in warning for warning in report.warnings)


def test_ingest_folder_by_tags_warns_of_a_label_no_tag_names(tmp_path):
    """F6 as the audit ran it: `zero.toml` (Oslo, Paris) on a folder whose tags name only Paris."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = ["file,tags"]
    for number in range(4):
        (photos / f"p{number}.jpg").write_bytes(jpeg_bytes(color=(40 * number, 60, 90)))
        rows.append(f"p{number}.jpg,{'#paris' if number % 2 else 'eiffel tower'}")
    (photos / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    recipe = tmp_path / "zero.toml"
    recipe.write_text('name = "zero"\n[[labels]]\nname = "Oslo"\n[[labels]]\nname = "Paris"\n', encoding="utf-8")
    result = runner.invoke(app, ["ingest", "folder", str(photos), "-w", str(tmp_path / "ws"), "--metadata",
                                 str(photos / "metadata.csv"), "--label-from", "tags", "--recipe", str(recipe)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "warning: recipe label named by no photo's tags: Oslo" in output, output
    catalog = read_catalog(Workspace(tmp_path / "ws"))
    assert (catalog["label"] == "Paris").sum() == 2  # `#paris` names Paris


def test_an_emoticon_semicolon_does_not_make_a_semicolon_list():
    """Review CO: `smile;)` in a space-separated cell split the whole cell on ';' and the Paris label was lost."""
    assert "paris" in parse_tags("eiffel tower paris smile;)")
    assert "london" in parse_tags("paris london ;-)")
    assert parse_tags("paris;france;skyline") == ["paris", "france", "skyline"]
    assert parse_tags("new york; skyline") == ["new york", "skyline"]


def test_a_short_label_gets_no_lookalike_tags():
    """Review CO: for a label `C`, every one-letter tag was a look-alike (one edit away)."""
    from curate.ingest.label_coverage import unnamed_label_warnings
    from curate.recipes import Label, Recipe

    recipe = Recipe("r", (Label("C", "C"), Label("Oslo", "Oslo")))
    tags = pd.Series([["b"], ["d"], ["x"], ["olso"]], dtype=object)
    [line] = unnamed_label_warnings(tags, pd.Series([[], [], [], []], dtype=object), recipe)
    assert "C, Oslo (tags like it: olso 1)" in line and "b 1" not in line
