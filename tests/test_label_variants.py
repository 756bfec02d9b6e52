"""`curate ingest folder`: labels spelled several ways (`Paris`, `PARIS`, `paris`), labels a recipe does
not declare, and label folders whose photos sit in subfolders (`Europe/Rome/x.jpg`)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
from helpers import jpeg_bytes
from typer.testing import CliRunner

from curate.cli.app import app
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.folder_labels import label_warnings
from curate.recipes import Label, Recipe
from curate.workspace import Workspace, read_catalog

RECIPE = '''name = "dlabels"
[[labels]]
name = "Paris"
aliases = ["paris"]
[[labels]]
name = "Zürich"
[[labels]]
name = "北京"
'''


def make_folder(root: Path, layout: dict[str, int]) -> Path:
    """One tiny distinct JPEG per photo: `layout` maps a folder (relative, may be nested) to its photo count."""
    number = 0
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            number += 1
            (root / folder / f"p{index}.jpg").write_bytes(jpeg_bytes(color=(number * 37 % 256, number, 90)))
    return root


def ingest(tmp_path: Path, folder: Path, **options):
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=2, **options))
    return report, read_catalog(ws)


def case_variants(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "D", {"Paris": 4, "PARIS": 2, "paris ": 1, unicodedata.normalize("NFC", "Zürich"): 1,
                                        unicodedata.normalize("NFD", "Zürich"): 1, "北京": 1, "Europe": 2})


def test_case_variants_without_a_recipe_stay_apart_with_one_warning(tmp_path):
    report, catalog = ingest(tmp_path, case_variants(tmp_path))
    assert catalog["label"].value_counts().to_dict() == {"Paris": 4, "PARIS": 2, "Europe": 2, "Zürich": 2,
                                                         "paris": 1, "北京": 1}
    spelling = [line for line in report.warnings if "differ only in case" in line]
    assert len(spelling) == 1
    assert "separate classes: Paris (4 photos), PARIS (2), paris (1)" in spelling[0]
    assert "rename the label folders to one spelling" in spelling[0] and "--recipe" in spelling[0]
    assert "Zürich" not in spelling[0]  # NFC and NFD spellings already merge: nothing to say


def test_recipe_names_take_over_case_variants_and_undeclared_labels_are_named(tmp_path):
    recipe = tmp_path / "dlabels.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    report, catalog = ingest(tmp_path, case_variants(tmp_path), recipe=str(recipe))
    assert catalog["label"].value_counts().to_dict() == {"Paris": 7, "Europe": 2, "Zürich": 2, "北京": 1}
    assert any(line.endswith("merged into the recipe's label: Paris (4 photos), PARIS (2), paris (1) -> Paris")
               for line in report.warnings)
    undeclared = [line for line in report.warnings if "not among recipe dlabels's labels" in line]
    assert len(undeclared) == 1 and undeclared[0].startswith("label Europe (2 photos) is not among")
    assert not any("separate classes" in line for line in report.warnings)


def test_recipe_aliases_and_case_map_a_label_column(tmp_path):
    photos = make_folder(tmp_path / "flat", {".": 4})
    (photos / "metadata.csv").write_text("file,label\np0.jpg,lutece\np1.jpg, LUTÈCE\np2.jpg,Lyon\np3.jpg,lyon\n",
                                         encoding="utf-8")
    recipe = Recipe("cities", (Label("Paris", "Paris", aliases=("Lutèce",)),))
    report, catalog = ingest(tmp_path, photos, recipe=recipe, label_source="column")
    labels = dict(zip(catalog["source_id"], catalog["label"]))
    assert labels == {"p0.jpg": "lutece", "p1.jpg": "Paris", "p2.jpg": "Lyon", "p3.jpg": "lyon"}
    assert any(line.startswith("labels that differ only in case, spaces or punctuation are separate "
                               "classes: Lyon (1 photo), lyon (1); to merge them, change the label column")
               for line in report.warnings)
    assert any(line.startswith("3 labels (3 photos) are not among recipe cities's labels (Paris) and kept as given: ")
               for line in report.warnings)


def test_cli_prints_the_spelling_warning(tmp_path):
    photos = make_folder(tmp_path / "D", {"new_york": 2, "New York": 1, "NEW-YORK": 1})
    result = CliRunner().invoke(app, ["ingest", "folder", str(photos), "--workers", "2", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert ("warning: labels that differ only in case, spaces or punctuation are separate classes: "
            "new_york (2 photos), NEW-YORK (1), New York (1)") in result.output


def test_a_region_folder_nested_two_levels_deep_is_named(tmp_path):
    photos = make_folder(tmp_path / "D", {"Paris": 3, "Zürich": 2, "Europe/Rome": 2, "Europe/Berlin": 1})
    report, catalog = ingest(tmp_path, photos)
    assert (catalog["label"] == "Europe").sum() == 3
    nested = [line for line in report.warnings if "subfolders" in line]
    assert nested == [nested[0]] and nested[0].startswith(
        "label Europe: 3 of its 3 photos are in subfolders (Berlin, Rome); did you mean those as labels?")
    assert "`curate ingest folder DIR/Europe`" in nested[0]


def test_regions_are_named_but_subfolders_shared_by_every_class_are_not():
    files = ["Europe/Rome/a.jpg", "Europe/Berlin/b.jpg", "Asia/Tokyo/c.jpg", "Asia/Tokyo/d.jpg", "Asia/e.jpg",
             "coast/2019/f.jpg", "coast/2020/g.jpg", "forest/2019/h.jpg", "forest/i.jpg"]
    records = pd.DataFrame({"file": files, "label": [name.split("/")[0] for name in files]}, dtype=object)
    warnings = label_warnings(records, "folder", False)
    assert len(warnings) == 1
    assert warnings[0].startswith("label Asia: 2 of its 3 photos are in subfolders (Tokyo); "
                                  "label Europe: 2 of its 2 photos are in subfolders (Berlin, Rome); did you mean")
    assert "coast" not in warnings[0] and "forest" not in warnings[0]


def test_split_folders_keep_their_one_warning():
    records = pd.DataFrame({"file": ["train/cat/a.jpg", "train/dog/b.jpg", "test/cat/c.jpg", "test/dog/d.jpg"],
                            "label": ["train", "train", "test", "test"]}, dtype=object)
    warnings = label_warnings(records, "folder", False)
    assert len(warnings) == 1 and warnings[0].startswith("the labels are the first-level folders (test, train)")


def test_a_few_photos_in_subfolders_are_not_worth_a_warning():
    records = pd.DataFrame({"file": ["dogs/a.jpg", "dogs/deeper/b.jpg", "cats/c.jpg", "cats/d.jpg"],
                            "label": ["dogs", "dogs", "cats", "cats"]}, dtype=object)
    assert label_warnings(records, "folder", False) == []


def test_label_from_folder_on_a_flat_folder_warns_instead_of_crashing():
    records = pd.DataFrame({"file": ["a.jpg", "b.jpg"], "label": [None, None]}, dtype=object)
    warnings = label_warnings(records, "folder", False)
    assert len(warnings) == 1 and warnings[0].startswith("2 photos sit beside the label folders")


def test_curate_run_folder_source_maps_labels_through_its_recipe(tmp_path):
    """`curate run` ingests a recipe's folder source with that recipe: its labels are the recipe's
    names, and the step's one-line summary carries the warnings."""
    from curate.pipeline.sources import folder_step
    from curate.recipes import load_recipe

    make_folder(tmp_path / "photos", {"Paris": 2, "PARIS": 1, "Zurich": 1})
    path = tmp_path / "dlabels.toml"
    path.write_text(RECIPE + '[[sources]]\nkind = "folder"\nfolder = "photos"\nworkers = 2\n', encoding="utf-8")
    recipe = load_recipe(str(path))
    ws = Workspace(tmp_path / "ws")
    warnings = " | ".join(folder_step(recipe, recipe.sources[0], "source #1").action(ws).warnings)
    assert "labels that differ only in case, spaces or punctuation are merged into the " \
           "recipe's label: Paris (2 photos), PARIS (1) -> Paris" in warnings
    assert "label Zurich (1 photo) is not among recipe dlabels's labels" in warnings  # ü is not u
    assert sorted(read_catalog(ws)["label"]) == ["Paris", "Paris", "Paris", "Zurich"]
