"""One photographer's pan beside other real photos: does the near-duplicate calibration still trust the
embeddings, and are the other photos' copies found? (calibration.one_sequence)

    python bench/neardup_sequences.py [--frames 65] [--others 90] [--copied 30]

Collection (real pixels, built in a temporary folder): a pan of `--frames` frames swept across one
opensfm-lund photo (45 % of its width each, 640x480, one owner, one second apart), `--others` ImageNet-sample
photos by other owners on other days, and for `--copied` of them three copies by yet other owners: 15 % cut
off one side, brightness x1.25 and contrast x1.3, a 3-degree rotation (cropped to hide the corners).
`curate ingest folder` with a sidecar (owner, time), `curate embed`, then `curate filter` twice on copies of
the workspace: as is (the pan's frames are one photographer's sequence and are set aside), and with every
taken_at removed (nothing can be set aside: the calibration sees the pan's frames as different photos, as it
did before sequences were set aside). Prints the calibration's verdicts and recall per copy kind for both,
and clusters joining different photos; and once more with the pan's frames made owner-less and geotagged
along 200 m of one street (a phone's walk: set aside as the split groups it).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
KINDS = ("crop", "bright", "rot")


def build(folder: Path, frames: int, others: int, copied: int) -> Path:
    """The images under folder/in/street and the sidecar folder/meta.csv; returns the sidecar."""
    street = folder / "in" / "street"
    street.mkdir(parents=True)
    rows = []
    source = Image.open(REALDATA / "opensfm-lund" / "10.jpg").convert("RGB")
    width, height = source.size
    frame_w = int(width * 0.45)
    frame_h = int(frame_w * 0.75)
    top = (height - frame_h) // 2
    start = pd.Timestamp("2020-06-01 12:00:00")
    for i in range(frames):
        left = int((width - frame_w) * i / max(1, frames - 1))
        source.crop((left, top, left + frame_w, top + frame_h)).resize((640, 480), Image.LANCZOS).save(
            street / f"pan{i:03d}.jpg", quality=90)
        rows.append((f"street/pan{i:03d}.jpg", "panner", str(start + pd.Timedelta(seconds=i))))
    files = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))
    for k, path in enumerate(random.Random(0).sample(files, others)):
        image = Image.open(path).convert("RGB")
        image.save(street / f"img{k:03d}.jpg", quality=92)
        rows.append((f"street/img{k:03d}.jpg", f"user{k}", str(pd.Timestamp("2015-01-01") + pd.Timedelta(days=7 * k))))
        if k >= copied:
            continue
        w, h = image.size
        margin = int(min(w, h) * 0.05)
        copies = {"crop": image.crop((int(w * 0.15), 0, w, h)),
                  "bright": ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(1.25)).enhance(1.3),
                  "rot": image.rotate(3, resample=Image.BICUBIC).crop((margin, margin, w - margin, h - margin))}
        for kind, copy in copies.items():
            copy.save(street / f"img{k:03d}_{kind}.jpg", quality=90)
            rows.append((f"street/img{k:03d}_{kind}.jpg", f"copier{k}",
                         str(pd.Timestamp("2021-03-01") + pd.Timedelta(days=k))))
    sidecar = folder / "meta.csv"
    pd.DataFrame(rows, columns=["file", "owner_id", "taken_at"]).to_csv(sidecar, index=False)
    return sidecar


def curate(*args: str) -> str:
    done = subprocess.run([sys.executable, "-c", "from curate_entry import curate; curate()", *args],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"curate {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout + done.stderr


def scores(workspace: Path, copied: int) -> str:
    from curate.workspace import Workspace, read_catalog

    catalog = read_catalog(Workspace(workspace))
    name = catalog["source_id"].map(lambda path: Path(path).stem)
    group = catalog["near_dup_cluster"].fillna(catalog["photo_id"])
    by_name = dict(zip(name, group))
    found = {kind: sum(by_name[f"img{k:03d}_{kind}"] == by_name[f"img{k:03d}"] for k in range(copied))
             for kind in KINDS}
    photo = name.str.replace(r"_(crop|bright|rot)$", "", regex=True).where(~name.str.startswith("pan"), "pan")
    mixed = int(pd.DataFrame({"group": group, "photo": photo}).groupby("group")["photo"].nunique().gt(1).sum())
    return " ".join(f"{kind} {found[kind]}/{copied}" for kind in KINDS) + f"; clusters joining different photos {mixed}"


def verdicts(output: str) -> str:
    lines = [line for line in output.splitlines() if "near-duplicate hashes" in line or "embedding links off" in line]
    return "\n    ".join(line[:260] for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=65)
    parser.add_argument("--others", type=int, default=90)
    parser.add_argument("--copied", type=int, default=30)
    args = parser.parse_args()
    if not (REALDATA / "opensfm-lund").is_dir():
        print(f"skipped: {REALDATA} is missing")
        return
    sys.path.insert(0, str(ROOT))
    from neardup import machine

    from curate.workspace import Workspace, read_catalog, write_catalog

    print(f"machine: {machine()}; command: python bench/neardup_sequences.py {' '.join(sys.argv[1:])}")

    with tempfile.TemporaryDirectory(prefix="pan-") as scratch:
        folder = Path(scratch)
        sidecar = build(folder, args.frames, args.others, args.copied)
        workspace = folder / "ws"
        curate("ingest", "folder", str(folder / "in"), "--metadata", str(sidecar), "-w", str(workspace))
        curate("embed", "-w", str(workspace))
        undated = folder / "ws_undated"
        shutil.copytree(workspace, undated)
        write_catalog(Workspace(undated), read_catalog(Workspace(undated)).assign(taken_at=pd.NaT))
        walk = folder / "ws_walk"  # the pan's frames without an owner, geotagged along 200 m of one street
        shutil.copytree(workspace, walk)
        catalog = read_catalog(Workspace(walk))
        pan = catalog["owner_id"].eq("panner").to_numpy()
        catalog.loc[pan, "owner_id"] = None
        catalog.loc[pan, "lat"] = 55.7049 + np.linspace(0, 0.0018, int(pan.sum()))
        catalog.loc[pan, "lon"] = 13.1934
        write_catalog(Workspace(walk), catalog)
        for label, path in (("times removed (nothing set aside, as before)", undated),
                            ("as ingested (the pan set aside)", workspace),
                            ("the pan without an owner, geotagged (set aside as a walk)", walk)):
            output = curate("filter", "-w", str(path))
            print(f"{label}: {scores(path, args.copied)}\n    {verdicts(output)}")


if __name__ == "__main__":
    main()
