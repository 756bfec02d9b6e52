"""Licence spellings -> canonical names (curate.licences), the catalog's `license` column, and the
licence filter of `curate filter`."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.errors import UsageError
from curate.filters.stage import FilterConfig, filter_catalog
from curate.licences import (
    FLICKR_LICENCE_IDS,
    KNOWN_FAMILIES,
    canonical_licence,
    canonical_licences,
    licence_allowed,
    parse_allowed,
    parse_licence,
)
from curate.records import records_to_rows
from tests.helpers import REALDATA

GET_INFO = REALDATA / "flickr-api-recordings" / "cassettes" / "TestLicenseMethods.test_lookup_license_by_numeric_id.yml"
GET_INFO_2017 = (REALDATA / "flickr-api-recordings" / "cassettes_removed_from_head"
                 / "TestLicenseMethods.test_lookup_license_by_id.yml")

# Flickr's licence ids as flickr.com/services/api/flickr.photos.licenses.getInfo documents them.
FLICKR = [("0", "all-rights-reserved"), ("1", "cc-by-nc-sa-2.0"), ("2", "cc-by-nc-2.0"), ("3", "cc-by-nc-nd-2.0"),
          ("4", "cc-by-2.0"), ("5", "cc-by-sa-2.0"), ("6", "cc-by-nd-2.0"), ("7", "no-known-copyright"),
          ("8", "us-government-work"), ("9", "cc0-1.0"), ("10", "pdm-1.0"), ("11", "cc-by-4.0"),
          ("12", "cc-by-sa-4.0"), ("16", "cc-by-nc-nd-4.0")]


@pytest.mark.parametrize("flickr_id, expected", FLICKR)
def test_flickr_ids(flickr_id, expected):
    assert canonical_licence(flickr_id) == expected
    assert canonical_licence(f"flickr licence {flickr_id}") == expected  # the Flickr source's fallback name


@pytest.mark.parametrize("text, expected", [
    ("CC BY-SA 4.0", "cc-by-sa-4.0"), ("CC BY 2.0", "cc-by-2.0"), ("CC BY-SA 3.0 de", "cc-by-sa-3.0-de"),
    ("CC BY-SA 2.5,2.0,1.0", "cc-by-sa-2.5"), ("CC0", "cc0-1.0"), ("Public domain", "public-domain"),
    ("GFDL", "gfdl"), ("cc-by-sa", "cc-by-sa"), ("CC-BY-NC-ND-4.0", "cc-by-nc-nd-4.0"), ("cc by 2", "cc-by-2.0"),
    ("Attribution License", "cc-by-2.0"), ("Attribution-NonCommercial-ShareAlike License", "cc-by-nc-sa-2.0"),
    ("Attribution-ShareAlike 4.0 International", "cc-by-sa-4.0"), ("Public Domain Dedication (CC0)", "cc0-1.0"),
    ("http://creativecommons.org/licenses/by-nc/2.0/", "cc-by-nc-2.0"),
    ("https://creativecommons.org/licenses/by-sa/3.0/de/", "cc-by-sa-3.0-de"),
    ("https://creativecommons.org/publicdomain/mark/1.0/", "pdm-1.0"),
    ("No known copyright restrictions", "no-known-copyright"), ("All Rights Reserved", "all-rights-reserved"),
])
def test_commons_and_other_spellings(text, expected):
    assert canonical_licence(text) == expected


@pytest.mark.parametrize("text", ["my own terms", "", None, float("nan"), "17", "cc", "Attribution", "by-sa"])
def test_unknown_text_is_not_a_licence(text):
    assert canonical_licence(text) is None


def _recorded_licences(path) -> list[tuple[str, str, str]]:
    text = path.read_text(encoding="utf-8").replace('\\"', '"')
    text = re.sub(r"\s*\n\s*", " ", text)  # the YAML folds the XML over several lines
    return re.findall(r'<license id="(\d+)" name="([^"]*)" url="([^"]*)"', text)


@pytest.mark.parametrize("path", [GET_INFO, GET_INFO_2017], ids=["2024", "2017"])
def test_recorded_get_info_id_name_and_url_agree(path):
    """Each licence Flickr's recorded getInfo lists is one canonical name, by id, by name and by URL."""
    if not path.exists():
        pytest.skip(f"real data not found at {path} (outside contributors' clones lack ../shared/realdata)")
    licences = _recorded_licences(path)
    assert len(licences) >= 11
    for licence_id, name, url in licences:
        by_id = canonical_licence(licence_id)
        assert by_id is not None and canonical_licence(name) == by_id, (licence_id, name)
        if "creativecommons.org" in url:
            assert canonical_licence(url) == by_id, (licence_id, url)
    assert {lid for lid, _, _ in licences} <= set(FLICKR_LICENCE_IDS)


@given(st.sampled_from([text for _, text in FLICKR] + ["CC BY-SA 3.0 de", "Public domain", "CC0", "cc-by",
                                                       "Attribution-NoDerivs License", "GFDL"]))
def test_canonical_names_are_stable(text):
    name = canonical_licence(text)
    assert canonical_licence(name) == name


def test_every_known_family_reads_as_itself():
    assert [parse_licence(name).family for name in KNOWN_FAMILIES] == list(KNOWN_FAMILIES)


def test_matching_rule_family_version_port():
    values = pd.Series(["cc-by-2.0", "cc-by-4.0", "cc-by-sa-2.0", "cc-by-sa-3.0-de", "cc-by-sa-3.0", None,
                        "my terms", "4", "Attribution License"])
    assert licence_allowed(values, parse_allowed(["cc-by"])).tolist() == \
        [True, True, False, False, False, False, False, True, True]
    assert licence_allowed(values, parse_allowed(["cc-by-4.0", "cc-by-sa-3.0"])).tolist() == \
        [False, True, False, True, True, False, False, False, False]
    assert licence_allowed(values, parse_allowed(["cc-by-sa-3.0-de"])).tolist() == \
        [False, False, False, True, False, False, False, False, False]


def test_allowed_names_are_canonical_and_unknown_ones_are_one_line():
    assert parse_allowed(["CC BY-SA", "cc-by", "cc-by", "5"]) == ("cc-by-sa", "cc-by", "cc-by-sa-2.0")
    with pytest.raises(UsageError) as error:
        parse_allowed(["cc-by", "creative"])
    message = str(error.value)
    assert "'creative'" in message and "\n" not in message
    assert all(family in message for family in KNOWN_FAMILIES)
    with pytest.raises(UsageError, match="at least one"):
        parse_allowed([])


def test_catalog_stores_canonical_licences_and_keeps_unknown_text():
    records = pd.DataFrame({"source_id": list("abcdef"),
                            "license": ["4", "5", " CC BY-SA 4.0 ", "my own terms", None, ""]})
    rows = records_to_rows(records, "folder")
    assert rows["license"].tolist() == ["cc-by-2.0", "cc-by-sa-2.0", "cc-by-sa-4.0", "my own terms", None, None]
    assert canonical_licences(pd.Series([None, "9"], dtype=object)).tolist() == [None, "cc0-1.0"]


# ---- the licence filter -------------------------------------------------------------------------

def catalog(rows: list[dict]) -> pd.DataFrame:
    base = {"source": "t", "status": "kept", "tags": [], "tag_labels": [], "owner_id": "o", "label": "city",
            "lat": np.nan, "lon": np.nan, "sha256": None, "drop_reason": None, "drop_stage": None, "phash": None,
            "license": "cc-by-2.0"}
    frame = pd.DataFrame([{**base, "photo_id": f"t:{i}", "source_id": str(i), **row} for i, row in enumerate(rows)])
    return schema.to_pandas(schema.conform(frame))


def reasons(out: pd.DataFrame) -> list:
    return [r if isinstance(r, str) else None for r in out["drop_reason"]]


def test_licence_filter_drops_what_is_not_allowed_and_is_recomputed():
    cat = catalog([{"license": "cc-by-2.0"}, {"license": "cc-by-sa-4.0"}, {"license": "all-rights-reserved"},
                   {"license": None}, {"license": "my own terms"}, {"license": "4"},  # a catalog from before
                   {"license": "cc-by-nc-2.0", "status": "dropped", "drop_reason": "truncated_image",
                    "drop_stage": "ingest"}])
    out, report = filter_catalog(cat, FilterConfig(licences=("cc-by", "cc-by-sa")))
    assert reasons(out)[:6] == [None, None, "licence", "licence", "licence", None]
    assert out.loc[2:4, "drop_stage"].eq("filter").all() and out.loc[2:4, "status"].eq("dropped").all()
    assert out.loc[6, "drop_reason"] == "truncated_image"  # another stage's drop is left as it was
    assert report.dropped_by_reason == {"licence": 3}
    assert report.config["licences"] == ("cc-by", "cc-by-sa")
    assert any("1 photos have no licence" in note for note in report.notes)
    assert any("'my own terms' (1)" in note for note in report.notes)
    # audit AE: one note names what was refused (by canonical name) and the labels that lose most
    assert ("--licences cc-by,cc-by-sa dropped 3 of 6 photos (50%): all-rights-reserved 1 not allowed; 2 without a "
            "licence curate reads; labels losing over 10%: city 50%") in report.notes
    again, _ = filter_catalog(out, FilterConfig())  # no licence filter: every licence drop is reinstated
    assert reasons(again)[:6] == [None] * 6 and len(again) == len(cat)


def test_licence_filter_runs_before_duplicates_so_an_allowed_copy_stays():
    rows = [{"sha256": "aa", "taken_at": pd.Timestamp("2020-01-01"), "license": "all-rights-reserved"},
            {"sha256": "aa", "taken_at": pd.Timestamp("2021-01-01"), "license": "cc-by-4.0"}]
    out, _ = filter_catalog(catalog(rows), FilterConfig(licences=("cc-by",)))
    assert reasons(out) == ["licence", None]  # the earlier copy would be kept, but it is not allowed


def test_unknown_licence_in_config_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown licence 'cc-by-sa-nc-zz'"):
        FilterConfig(licences=("cc-by", "cc-by-sa-nc-zz"))


# ---- CLI ----------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_licences_on_the_demo(tmp_path):
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import ingest_demo
    from curate.workspace import Workspace, read_catalog

    ingest_demo(Workspace(tmp_path), DemoConfig(photos=300, seed=5), images=False)
    result = runner.invoke(app, ["filter", "-w", str(tmp_path), "--licences", "cc-by, cc-by-sa", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"]["licences"] == ["cc-by", "cc-by-sa"] and report["dropped_by_reason"]["licence"] > 0
    catalog = read_catalog(Workspace(tmp_path))
    kept = catalog[catalog["status"] == "kept"]
    assert kept["license"].str.match(r"^cc-by(-sa)?-\d").all()
    assert (catalog.loc[catalog["drop_reason"] == "licence", "drop_stage"] == "filter").all()


def test_cli_unknown_licence_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["filter", "-w", str(tmp_path), "--licences", "cc-by,copyleft"])
    assert result.exit_code == 2
    assert "unknown licence 'copyleft'" in result.output and "cc-by-nc-sa" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_recipe_licences_list(tmp_path):
    from curate.pipeline import build_config

    config = build_config(FilterConfig, {"licences": ["cc-by-sa", "CC BY 4.0"]}, "recipe x [filter]")
    assert config.licences == ("cc-by-sa", "cc-by-4.0")
    with pytest.raises(UsageError, match=r"recipe x \[filter\]: .*unknown licence 'nope'"):
        build_config(FilterConfig, {"licences": ["nope"]}, "recipe x [filter]")
    with pytest.raises(UsageError, match="licences must be"):
        build_config(FilterConfig, {"licences": "cc-by"}, "recipe x [filter]")
