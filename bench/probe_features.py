"""Benchmark: how close the features a linear probe (and its topic gate) is fitted on are to the
features `classify evaluate`, `predict` and `serve` compute for the same photos, in one run.

    .venv/bin/python bench/probe_features.py [--folder ../shared/realdata/flickr-ferrari] [--photos 100]

The photos of `--folder` (default: the 100 real 1024 px Flickr photos of flickr-ferrari) are
ingested into a temporary workspace. For each photo, EfficientNet-Lite0's pooled features at the
224 px crop, four ways:

* predicted: what `classify evaluate` feeds the model (`curate.store.open_rgb` at the draft side
  `curate.vision.images.draft_side`, then `prepare`, as `classify.model.Predictor` does); the
  reference every other row is compared with;
* probe, now: `classify.gate.pooled_features` over the original photos (the probe's features and its
  gate's fit since this change);
* curate embed: `curate embed`'s vectors (a probe borrows them instead of computing its own);
* probe, before (the baseline): the run's 256 px resized JPEG cache read back through the training
  transforms (torchvision resize + centre crop), as the probe and the gate computed them before.

Printed per way: cosine to the predicted features (min, median) and the relative difference
|a - p| / |p| (median, max), and the ratio of the baseline's median relative difference to the
new one's. A head fitted on features that differ from the predicted ones by r is asked, at
prediction time, about inputs it never saw; r = 0 means it sees what it was fitted on.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compare(a: np.ndarray, reference: np.ndarray) -> dict:
    cosine = (a * reference).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(reference, axis=1)
    relative = np.linalg.norm(a - reference, axis=1) / np.linalg.norm(reference, axis=1)
    return {"cos_min": float(cosine.min()), "cos_median": float(np.median(cosine)),
            "rel_median": float(np.median(relative)), "rel_max": float(relative.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "realdata" / "flickr-ferrari")
    parser.add_argument("--photos", type=int, default=100)
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"no folder {args.folder}: pass --folder with a folder of photos")

    import torch

    from classify.data import LabelledImages, ensure_resized, transforms
    from classify.gate import pooled_features
    from classify.model import build_classifier
    from curate import objectstore
    from curate.embed import EmbedConfig, embed_chunk, load_embedder
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.store import open_rgb
    from curate.vision.images import draft_side
    from curate.workspace import Workspace, read_catalog

    tmp = Path(tempfile.mkdtemp(prefix="probe-features-"))
    try:
        ws = Workspace(tmp / "ws")
        ingest_folder(ws, FolderOptions(folder=args.folder, workers=1))
        catalog = read_catalog(ws)
        catalog = catalog[catalog["image_path"].notna()].head(args.photos).reset_index(drop=True)
        originals = [objectstore.locate(ws, path) for path in catalog["image_path"]]
        sizes = catalog[["width", "height"]].median()
        cpu = torch.device("cpu")
        model, preprocess = build_classifier("efficientnet_lite0", 2)  # the pretrained backbone, as a probe's
        model.eval()
        timings = {}

        started = time.perf_counter()
        images = [open_rgb(path, min_side=draft_side(preprocess)) for path in originals]
        from curate.vision.images import prepare

        batch = torch.from_numpy(np.stack([prepare(image, preprocess) for image in images]))
        with torch.inference_mode():
            predicted = model.features_and_logits(batch)[0].float().numpy()
        timings["predicted"] = time.perf_counter() - started

        started = time.perf_counter()
        now = pooled_features(model, originals, preprocess, cpu)
        timings["probe, now"] = time.perf_counter() - started

        started = time.perf_counter()
        embedded, ok, _ = embed_chunk(load_embedder(EmbedConfig()), originals, cpu, 64, 0)
        timings["curate embed"] = time.perf_counter() - started

        resized = ensure_resized(ws, catalog, 256)
        started = time.perf_counter()
        dataset = LabelledImages(resized.tolist(), np.zeros(len(catalog), np.int64),
                                 transforms(preprocess, train=False))
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(dataset), 64):
                batch = torch.stack([dataset[i][0] for i in range(start, min(start + 64, len(dataset)))])
                chunks.append(model.features_and_logits(batch)[0].float().numpy())
        before = np.concatenate(chunks)
        timings["probe, before (baseline)"] = time.perf_counter() - started

        rows = {"probe, now": compare(now, predicted), "curate embed": compare(embedded[ok], predicted[ok]),
                "probe, before (baseline)": compare(before, predicted)}
        print(f"machine: {platform.machine()}, {platform.python_version()}, torch {torch.__version__}, CPU; "
              f"{len(catalog)} photos of {args.folder.name} (median {sizes['width']:.0f}x{sizes['height']:.0f} px)")
        print(f"{'features':<28}{'cos min':>9}{'cos median':>12}{'rel median':>12}{'rel max':>9}{'seconds':>9}")
        for name, row in rows.items():
            print(f"{name:<28}{row['cos_min']:>9.4f}{row['cos_median']:>12.6f}{row['rel_median']:>12.4f}"
                  f"{row['rel_max']:>9.4f}{timings[name]:>9.1f}")
        base, new = rows["probe, before (baseline)"]["rel_median"], rows["probe, now"]["rel_median"]
        ratio = "inf" if new == 0 else f"{base / new:.0f}x"
        print(f"median distance to the predicted features: before {base:.4f}, now {new:.2e} ({ratio} closer)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
