"""Copies of a held-out set in a collection: `curate check-leakage --against` vs imagededup's PHash.

The set (real photos, seeded): "ours", a scrape, is PER_CLASS photos of each 15-Scene class from its train
half; "theirs", a benchmark's test set, is PER_CLASS photos of each class from its test half plus planted
copies of our photos: BYTE_COPIES byte for byte and one edited copy of each of EDITED other photos, the edit
kind cycling through bench/neardup_real.py's nine (JPEG 20-50, downscale 30-70 %, crop 2-10 %, brightness
and contrast, rotation, flip, watermark, greyscale, handheld burst frame) at a strength drawn from its range.

Scored: recall of the planted copies (our photo found as a copy of its planted twin), per kind, for
curate with pHash alone (`copies_of` before `curate embed`), curate with both workspaces embedded, and
imagededup 0.3.3 PHash at its default 10 bits over the union of the two sets' stored images (a photo of ours
flagged when imagededup pairs it with one of theirs), in the same run. Our photos flagged beyond the
planted ones are counted apart: those whose bytes equal a photo of theirs (15-Scene's train and test halves
share some images byte for byte) and the rest, which no truth covers (the bench prints them to check by
eye). Wall seconds of each method, the embedding pass apart.

    .venv/bin/python bench/contamination.py [--per-class 40] [--edited 90] [--byte-copies 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from neardup_real import EDIT_RANGES, REALDATA, edited_copy  # noqa: E402  (bench/ is not a package)
from scorecard import install_imagededup  # noqa: E402

KINDS = tuple(EDIT_RANGES)


def build(root: Path, per_class: int, edited: int, byte_copies: int, seed: int) -> dict[str, tuple[str, str]]:
    """Write ours/<class>/ and theirs/<class>/; return {our file name: (kind, their file name)} of the planted."""
    rng = np.random.default_rng(seed)
    scenes = REALDATA / "scenes15"
    ours_files = []
    for split, side in (("train", "ours"), ("test", "theirs")):
        for folder in sorted((scenes / split).iterdir()):
            if not folder.is_dir():
                continue
            files = sorted(folder.glob("*.jpg"))
            chosen = [files[i] for i in sorted(rng.permutation(len(files))[:per_class])]
            (root / side / folder.name).mkdir(parents=True, exist_ok=True)
            for path in chosen:
                shutil.copy(path, root / side / folder.name / path.name)
                if side == "ours":
                    ours_files.append(root / side / folder.name / path.name)
    planted = {}
    picks = rng.permutation(len(ours_files))[: byte_copies + edited]
    for number, index in enumerate(picks):
        source = ours_files[index]
        name = f"planted_{number:03d}.jpg"
        target = root / "theirs" / source.parent.name / name
        if number < byte_copies:
            shutil.copy(source, target)
            kind = "byte copy"
        else:
            kind = KINDS[(number - byte_copies) % len(KINDS)]
            with Image.open(source) as image:
                edited_copy(image.convert("RGB"), kind, rng).save(target, "JPEG", quality=95)
        planted[f"{source.parent.name}/{source.name}"] = (kind, f"{source.parent.name}/{name}")
    return planted


def our_file(photo_id: str) -> str:
    return photo_id.split(":", 1)[-1]


def imagededup_flagged(ours, theirs, site: Path, folder: Path) -> tuple[set[str], float]:
    """Our files imagededup's PHash pairs with one of theirs, and its wall seconds (encoding + search)."""
    from curate.workspace import read_catalog

    install_imagededup(site)
    from imagededup.methods import PHash

    names = {}
    folder.mkdir(parents=True, exist_ok=True)
    for side, ws in (("o", ours), ("t", theirs)):
        catalog = read_catalog(ws)
        for position, row in enumerate(catalog[catalog["image_path"].notna()].itertuples()):
            name = f"{side}{position:06d}.jpg"
            (folder / name).symlink_to(ws.root / row.image_path)
            names[name] = (side, our_file(row.photo_id))
    start = time.perf_counter()
    found = PHash(verbose=False).find_duplicates(image_dir=str(folder), max_distance_threshold=10)
    seconds = time.perf_counter() - start
    flagged = {names[a][1] for a, others in found.items() if names[a][0] == "o"
               for b in others if names[b][0] == "t"}
    return flagged, seconds


def score(name: str, flagged: set[str], planted: dict, exact_natural: set[str], seconds: float) -> list[str]:
    by_kind = {}
    for ours_name, (kind, _) in planted.items():
        by_kind.setdefault(kind, []).append(ours_name in flagged)
    recall = {kind: sum(hits) / len(hits) for kind, hits in by_kind.items()}
    found = sum(sum(hits) for hits in by_kind.values())
    others = flagged - set(planted)
    cells = " | ".join(f"{recall.get(kind, float('nan')):.2f}" for kind in ("byte copy", *KINDS))
    print(f"| {name} | {cells} | {found}/{len(planted)} | {len(others & exact_natural)} | "
          f"{len(others - exact_natural)} | {seconds:.1f} s |")
    return sorted(others - exact_natural)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--edited", type=int, default=90)
    parser.add_argument("--byte-copies", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not (REALDATA / "scenes15").is_dir():
        sys.exit("needs ../shared/realdata/scenes15")
    from curate.contamination import copies_of
    from curate.embed import EmbedConfig, run_embed
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    root = Path(tempfile.mkdtemp(prefix="contamination-"))
    try:
        planted = build(root, args.per_class, args.edited, args.byte_copies, args.seed)
        ours, theirs = Workspace(root / "ws"), Workspace(root / "ws-benchmark")
        for ws, side in ((ours, "ours"), (theirs, "theirs")):
            ingest_folder(ws, FolderOptions(folder=root / side, workers=args.workers))
        catalogs = [read_catalog(ws) for ws in (ours, theirs)]
        their_shas = set(catalogs[1]["sha256"].dropna())
        exact_natural = {our_file(pid) for pid, sha in zip(catalogs[0]["photo_id"], catalogs[0]["sha256"])
                         if sha in their_shas and our_file(pid) not in planted}
        print(f"machine: {platform.machine()}, {platform.python_version()}, ours {len(catalogs[0])} photos, "
              f"theirs {len(catalogs[1])} (of them {len(planted)} planted), 15-Scene byte-identical "
              f"train/test pairs among them: {len(exact_natural)}")
        print(f"| method | {' | '.join(('byte copy', *KINDS))} | planted found | other exact | other | wall |")
        print("|---" * (len(KINDS) + 6) + "|")
        start = time.perf_counter()
        phash_only = copies_of(ours, theirs, args.workers)
        score("curate, pHash alone (not embedded)", {our_file(p) for p in phash_only.copies["photo_id"]},
              planted, exact_natural, time.perf_counter() - start)
        start = time.perf_counter()
        for ws in (ours, theirs):
            run_embed(ws, EmbedConfig(device="cpu"))
        embed_seconds = time.perf_counter() - start
        start = time.perf_counter()
        embedded = copies_of(ours, theirs, args.workers)
        unchecked = score("curate, both embedded", {our_file(p) for p in embedded.copies["photo_id"]}, planted,
                          exact_natural, time.perf_counter() - start)
        flagged, seconds = imagededup_flagged(ours, theirs, root / "site", root / "union")
        unchecked_dedup = score("imagededup PHash (10 bits)", flagged, planted, exact_natural, seconds)
        print(f"embedding both workspaces (EfficientNet-Lite0, CPU): {embed_seconds:.1f} s")
        for note in embedded.notes:
            print(f"note: {note}")
        print("curate's other flagged photos (no truth; check by eye):")
        rows = embedded.copies.assign(file=embedded.copies["photo_id"].map(our_file)).set_index("file")
        for name in unchecked:
            print(f"  {name} ~ {rows.loc[name, 'other_photo_ids']}")
        print(f"imagededup's other flagged photos: {', '.join(unchecked_dedup) or 'none'}")
        digest = hashlib.sha256("".join(sorted(planted)).encode()).hexdigest()[:12]
        print(f"planted set digest {digest} (seed {args.seed})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
