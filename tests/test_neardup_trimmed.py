"""Screenshot-style copies (a photo on a light border under a title bar, PNG) and the border-trimmed pHash.

The border moves a photo's pHash ~20 bits, beyond the 16-bit gate of the embedding link, so such copies
were found about 4 times in 10 (docs/benchmarks.md, "Crops off one side and screenshot frames"). The
decode pass now also hashes the image with its uniform border cut off (`phash_trimmed`), and the
linking treats that hash as one more view of the image, like the mirror hash. Real photos from
../shared/realdata; EfficientNet-Lite0 embeddings as `curate embed` computes them.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from curate.filters import neardup
from curate.filters.stage import FilterConfig, filter_catalog
from curate.store import open_rgb
from curate.vision import features
from tests.helpers import REALDATA

PHOTO = "flickr-ferrari/black/2828686873_2fa36f83d7_b.jpg"
OTHER = "imagenet-sample/n01443537_goldfish.jpg"
# ordinary photos of the fit side (scenes15/train: skies, coasts, walls) that must keep a null trimmed hash
PLAIN = ["scenes15/train/Coast/image_0001.jpg", "scenes15/train/OpenCountry/image_0001.jpg",
         "scenes15/train/Highway/image_0001.jpg", PHOTO, OTHER]

pytestmark = pytest.mark.skipif(not all((REALDATA / name).is_file() for name in (PHOTO, OTHER)),
                                reason="needs ../shared/realdata (flickr-ferrari, imagenet-sample)")


def screenshot(image: Image.Image, border: float = 0.06, bar: float = 0.11, shade: int = 238) -> Image.Image:
    """`image` on a light border (`border` of its longer side) under a title bar (`bar` of its height) with a
    dark strip, saved as PNG and decoded: bench/neardup_real.py's `screenshot` at fixed sizes."""
    width, height = image.size
    side, top = round(border * max(width, height)), round(bar * height)
    shot = Image.new("RGB", (width + 2 * side, height + top + side), (shade, shade, shade))
    shot.paste(image.convert("RGB"), (side, top))
    ImageDraw.Draw(shot).rectangle((0, 0, width + 2 * side, top // 2), fill=(40, 40, 60))
    buffer = io.BytesIO()
    shot.save(buffer, "PNG")
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def stage_catalog(rows: list[dict]) -> pd.DataFrame:
    """A schema-conforming catalog of kept photos, one per row dict."""
    from curate import schema

    base = {"source": "t", "status": "kept", "tags": [], "tag_labels": [], "owner_id": "o", "label": "car",
            "taken_at": pd.NaT, "width": 10, "height": 10, "drop_reason": None, "drop_stage": None}
    frame = pd.DataFrame([{**base, "photo_id": f"t:{i}", "source_id": str(i), **row} for i, row in enumerate(rows)])
    return schema.to_pandas(schema.conform(frame))


def bits(a: str, b: str) -> int:
    return int(neardup.hamming_distance(*neardup.phash_to_uint64([a, b])[:, None])[0])


def test_a_photo_without_a_border_has_no_trimmed_hash():
    for name in [name for name in PLAIN if (REALDATA / name).is_file()]:
        assert features.features_of_file(REALDATA / name)["phash_trimmed"] is None, name


def test_a_screenshots_trimmed_hash_is_near_its_photos_hash():
    photo = open_rgb(REALDATA / PHOTO)
    original, shot = features.image_features(photo), features.image_features(screenshot(photo))
    assert bits(original["phash"], shot["phash"]) > 16  # what the embedding link's 16-bit gate cannot reach
    assert bits(original["phash"], shot["phash_trimmed"]) <= neardup.DEFAULT_NEAR_DUP_BITS


@pytest.fixture(scope="module")
def photo_and_screenshot():
    """(catalog of the photo, its screenshot and a different photo; thumbnails; embeddings) as ingest and
    `curate embed` would have them."""
    torch = pytest.importorskip("torch")
    from curate.filters import verify
    from curate.vision.backbones import load_backbone
    from curate.vision.images import prepare

    try:
        backbone = load_backbone(verify.EMBEDDING_BACKBONE)
    except Exception as exc:  # weights package missing: the embedding half cannot be checked here
        pytest.skip(f"backbone weights unavailable: {exc}")
    photo = open_rgb(REALDATA / PHOTO)
    images = [photo, screenshot(photo), open_rgb(REALDATA / OTHER)]
    found = [features.image_features(image) for image in images]
    shas = ["photo", "shot", "other"]
    catalog = stage_catalog([{"sha256": sha, **{name: f[name] for name in features.HASH_COLUMNS}}
                             for sha, f in zip(shas, found)])
    pixels = np.stack([prepare(image, backbone.preprocess) for image in images])
    with torch.inference_mode():
        vectors = backbone.features.eval()(backbone.normalise(torch.from_numpy(pixels))).float().numpy()
    thumbnails = {sha: features.thumbnail_bytes(f) for sha, f in zip(shas, found)}
    return catalog, thumbnails, (shas, vectors)


def test_a_real_photo_and_its_screenshot_are_linked(photo_and_screenshot):
    catalog, thumbnails, embeddings = photo_and_screenshot
    out, _ = filter_catalog(catalog, FilterConfig(max_km="off"), thumbnails=thumbnails, embeddings=embeddings)
    cluster = dict(zip(out["sha256"], out["near_dup_cluster"]))
    assert cluster["photo"] == cluster["shot"]
    assert cluster["other"] != cluster["photo"]
    # without the trimmed view (a catalog from before the column) the pair is not linked
    old, _ = filter_catalog(catalog.assign(phash_trimmed=None), FilterConfig(max_km="off"),
                            thumbnails=thumbnails, embeddings=embeddings)
    assert old.loc[old["sha256"] == "shot", "near_dup_cluster"].item() != cluster["photo"]


def test_a_catalog_from_before_the_column_gets_it_on_the_next_filter(tmp_path):
    """A re-check found workspaces ingested before `phash_trimmed` never got it: `read_catalog` adds the
    column as nulls, which read as 'no border', so screenshots stayed unfound. The filter now reads the
    catalog file's own columns and decodes once for a feature column the file lacks."""
    import pyarrow.parquet as pq

    from curate.filters.run import run_filter
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    folder = tmp_path / "photos" / "cars"
    folder.mkdir(parents=True)
    photo = open_rgb(REALDATA / PHOTO)
    photo.save(folder / "photo.jpg", quality=92)
    screenshot(photo).save(folder / "shot.png")
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    table = pq.read_table(ws.catalog_path)
    pq.write_table(table.drop(["phash_trimmed"]), ws.catalog_path)  # as ingested before the column existed
    assert read_catalog(ws)["phash_trimmed"].isna().all()
    run_filter(ws, FilterConfig(max_km="off"))
    catalog = read_catalog(ws).set_index("source_id")
    shot = catalog.loc[catalog.index.str.endswith("shot.png")].iloc[0]
    original = catalog.loc[catalog.index.str.endswith("photo.jpg")].iloc[0]
    assert isinstance(shot["phash_trimmed"], str) and bits(original["phash"], shot["phash_trimmed"]) <= 8
    run_filter(ws, FilterConfig(max_km="off"))  # the file holds the column now: nothing to decode again
    assert read_catalog(ws).set_index("source_id").loc[shot.name, "phash_trimmed"] == shot["phash_trimmed"]
