"""Writers: the images of a plan into folders (imagefolder, hf, csv), WebDataset tar shards or
Hugging Face Parquet shards (hf-parquet).

Both skip what an earlier export already wrote with the same content key (see
curate.export.state), stream one image at a time (memory does not grow with the collection)
and report progress through a callback.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from curate.export.config import ExportConfig
from curate.export.files import Progress, place_file
from curate.export.plan import ExportPlan, metadata_frame
from curate.export.reencode import link_reads_otherwise, resized_jpeg, upright_copy
from curate.export.source import Damaged, Fetched, ImageSource, Stored
from curate.export.state import Journal, as_stored, before_upright, same_content
from curate.export.state_on_disk import StateOnDisk

TAR_MTIME = 946_684_800  # 2000-01-01: every member gets it, so that shards are byte-identical
PROGRESS_EVERY = 200


def write_folder_files(out: Path, plan: ExportPlan, source: ImageSource, config: ExportConfig,
                       previous: dict[str, str] | StateOnDisk, journal: Journal,
                       progress: Progress | None = None) -> tuple[int, dict[str, str]]:
    """Place every planned image at its target under `out`; returns (how many were (re)written,
    {target: content key} of every planned file). With the state on disk (`previous` a
    StateOnDisk), the keys go to it and the dict returned is empty. The images to (re)write are
    read from `source` in plan order (from an object store: ahead of the writer, in parallel)."""
    written, made, done, keys = 0, set(), 0, {}
    total, root = plan.photos, str(out)
    on_disk = isinstance(previous, StateOnDisk)
    for rows in plan.chunks():
        known = previous.window(rows) if on_disk else previous
        planned = list(rows[["target", "content_key", "image_path"]].itertuples(index=False, name=None))
        # plain strings: pathlib costs more than the link itself here
        there = [os.path.lexists(f"{root}/{target}") for target, _, _ in planned]
        needed = [not (same_content(known.get(target), key) and here) for (target, key, _), here in zip(planned, there)]
        recorded = [key if need else known[target] for (target, key, _), need in zip(planned, needed)]
        images = source.images(image_path for (_, _, image_path), need in zip(planned, needed) if need)
        try:
            for number, ((target, key, _), need) in enumerate(zip(planned, needed)):
                if need:
                    image = next(images)
                    if isinstance(image, Damaged):  # left out: the export plans again without it
                        done += 1
                        continue
                    path = f"{root}/{target}"
                    if there[number] and known.get(target) == before_upright(key) and \
                            written_as_now(image, path, config):  # (an export made before the upright rule)
                        recorded[number] = as_stored(key)
                        journal.done(target, recorded[number])
                        done += 1
                        continue
                    folder = os.path.dirname(path)
                    if folder not in made:
                        os.makedirs(folder, exist_ok=True)
                        made.add(folder)
                    journal.begin(target)
                    source.upright += place_file(image, path, config.link, config.resize)
                    source.misread_links += link_reads_otherwise(image, config.link, config.resize)
                    journal.done(target, key)
                    written += 1
                done += 1
                if progress and (done % PROGRESS_EVERY == 0 or done == total):
                    progress("images", done, total)
        finally:
            images.close()
        if on_disk:
            previous.record(rows["target"], pd.Series(recorded, dtype=object))
        else:
            keys.update(zip(rows["target"], recorded))
    return written, keys


def written_as_now(image: Stored, path: str, config: ExportConfig) -> bool:
    """Whether the file an export made before the upright rule (`curate.export.state.UPRIGHT`) placed at `path`
    for `image` is what `place_file` places now: a link always (the rule re-encodes none); a resized copy when
    its bytes are those `resized_jpeg` gives now (one made before 2026-12-06 read a photo with a colour profile
    other than sRGB unconverted: review DG, its old colours were kept and called unchanged); a copy when the file
    is the stored bytes' size and the photo needs no re-encoding (`upright_copy`, which reads the image's header,
    and decodes only a photo with transparency)."""
    if config.resize:
        try:
            with open(path, "rb") as handle:
                return handle.read() == resized_jpeg(image, config.resize)
        except OSError:
            return False
    if config.link != "copy" and not isinstance(image, Fetched):
        return True
    try:
        size = len(image.data) if isinstance(image, Fetched) else os.path.getsize(image)
        if os.path.getsize(path) != size:
            return False
    except OSError:
        return False
    return upright_copy(image, path.rsplit(".", 1)[-1]) is None


def shard_key(shard: pd.DataFrame, metadata_lines: list[str]) -> str:
    """Changes when any sample of the shard would be written differently."""
    digest = hashlib.sha256()
    for name, key, cls, meta in zip(shard["name"], shard["content_key"], shard["class_index"], metadata_lines):
        digest.update(f"{name}\t{key}\t{cls}\t{meta}\n".encode())
    return digest.hexdigest()


def plan_shards(plan: ExportPlan) -> Iterator[tuple[str, pd.DataFrame]]:
    """(shard name, its rows) of every shard in order, from the plan's chunks (a shard's rows are
    consecutive; one may start in a chunk and end in the next)."""
    pending: list[pd.DataFrame] = []
    for rows in plan.chunks():
        for name, shard in rows.groupby("shard", sort=False):
            if pending and pending[0]["shard"].iloc[0] != name:
                yield pending[0]["shard"].iloc[0], pd.concat(pending)
                pending = []
            pending.append(shard)
    if pending:
        yield pending[0]["shard"].iloc[0], pd.concat(pending)


def write_shards(out: Path, plan: ExportPlan, source: ImageSource, config: ExportConfig,
                 previous: dict[str, str], journal: Journal,
                 progress: Progress | None = None) -> tuple[int, dict[str, str]]:
    """Write each shard (`<split>-%06d.tar`, or `data/<split>-%06d.parquet` for hf-parquet) whose
    samples changed; returns (how many shards were written, {shard: key} of every shard).

    A tar sample is `<name>.<ext>` (the image), `<name>.cls` (the class index as text) and
    `<name>.json` (its metadata), members in sorted order with fixed owner, mode and mtime. A
    Parquet shard is described in `_write_parquet`. A shard's images are read from `source` in
    order (from an object store: ahead of the writer, in parallel)."""
    written, done, keys, total = 0, 0, {}, plan.photos
    for shard_name, shard in plan_shards(plan):
        lines = metadata_frame(shard).to_json(orient="records", lines=True, date_format="iso",
                                              force_ascii=False).splitlines()
        key = keys[shard_name] = shard_key(shard, lines)
        path = out / shard_name
        if previous.get(shard_name) != key or not path.exists():
            # an export made before the upright rule (curate.export.state.UPRIGHT): its shards are written once more
            earlier = path.exists() and previous.get(shard_name) == shard_key(
                shard.assign(content_key=shard["content_key"].map(before_upright)), lines)
            images = _intact(source.images(shard["image_path"]))
            journal.begin(shard_name)
            try:
                if config.format == "hf-parquet":
                    upright = _write_parquet(path, shard, images, config.resize, plan.classes)
                else:
                    upright = _write_tar(path, shard, lines, images, config.resize)
                source.upright += upright
                source.shards_before_upright += earlier
                journal.done(shard_name, key)
                written += 1
            except _DamagedImage:
                pass  # the shard is not written: the export plans again without the damaged image
            finally:
                images.close()
        done += len(shard)
        if progress:
            progress("shards", done, total)
    return written, keys


class _DamagedImage(Exception):
    """A shard met a damaged stored image (`curate.export.source.Damaged`)."""


def _intact(images: Iterator[Stored | Damaged]) -> Iterator[Stored]:
    """`images`, stopping the shard being written at the first damaged one (_DamagedImage) after
    reading the rest, so that each damaged image of the shard is found in this pass."""
    damaged = False
    for image in images:
        if isinstance(image, Damaged):
            damaged = True
        elif not damaged:
            yield image
    if damaged:
        raise _DamagedImage


def _write_tar(path: Path, shard: pd.DataFrame, lines: list[str], images: Iterator[Stored],
               resize: int | None) -> int:
    """One WebDataset shard; returns how many of its images were written upright (`upright_copy`)."""
    tmp, upright = path.with_name(f".{path.name}.tmp"), 0
    try:
        with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
            for name, ext, cls, meta, image in zip(shard["name"], shard["ext"], shard["class_index"], lines, images):
                plain = None if resize else upright_copy(image, ext)
                upright += plain is not None
                members = {f"{name}.cls": str(int(cls)).encode(), f"{name}.json": meta.encode("utf-8"),
                           f"{name}.{ext}": image if plain is None else plain}
                for member in sorted(members):
                    _add(tar, member, members[member], resize)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return upright


def _add(tar: tarfile.TarFile, name: str, content: bytes | Stored, resize: int | None) -> None:
    """Add one member with fixed metadata: bytes as they are; a stored image (a local file, streamed,
    or an object's bytes) resized first with `resize`."""
    info = tarfile.TarInfo(name)
    info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = TAR_MTIME, 0o644, 0, 0, "", ""
    if not isinstance(content, bytes) and resize:
        content = resized_jpeg(content, resize)
    elif isinstance(content, Fetched):
        content = content.data
    if isinstance(content, bytes):
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
        return
    from curate.errors import DataContractError

    try:
        with open(content, "rb") as handle:
            info.size = os.fstat(handle.fileno()).st_size
            tar.addfile(info, handle)
    except FileNotFoundError as exc:
        raise DataContractError(f"stored image {content} disappeared during the export; run `curate export` "
                                "again (it resumes)") from exc


PARQUET_ROWS = 64  # images per Parquet row group: what is held in memory while a shard is written
PARQUET_DROPPED = ("label", "split")  # the label is the ClassLabel column; the split is the file's


def _write_parquet(path: Path, shard: pd.DataFrame, images: Iterator[Stored], resize: int | None,
                   classes: list[str]) -> int:
    """One Hugging Face Parquet shard: `image` (struct of the file's `bytes` and `path`, the
    datasets `Image` feature), `label` (the class index, a `ClassLabel` over `classes`), then the
    metadata columns with their catalog types. The features are in the schema metadata, so
    `datasets` decodes images and label names without being told. Returns how many images were
    written upright (`upright_copy`)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate import schema

    meta = [name for name in metadata_frame(shard).columns if name not in PARQUET_DROPPED]
    features = {"image": {"_type": "Image"}, "label": {"names": classes, "_type": "ClassLabel"}}
    arrow = pa.schema([pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                       pa.field("label", pa.int64()),
                       *(pa.field(name, schema.COLUMN_BY_NAME[name].type) for name in meta)],
                      metadata={"huggingface": json.dumps({"info": {"features": features}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, upright = path.with_name(f".{path.name}.tmp"), []
    try:
        with pq.ParquetWriter(tmp, arrow) as writer:
            for start in range(0, len(shard), PARQUET_ROWS):
                part = shard.iloc[start:start + PARQUET_ROWS]
                # the shard's image iterator last: zip must not take an image past the part's last name
                cells = [{"bytes": _image_bytes(image, ext, resize, upright), "path": f"{name}.{ext}"}
                         for name, ext, image in zip(part["name"], part["ext"], images)]
                columns = {"image": cells, "label": part["class_index"].astype("int64").tolist(),
                           **{name: part[name] for name in meta}}
                frame = pd.DataFrame({name: list(values) if name == "image" else values
                                      for name, values in columns.items()})
                writer.write_table(pa.Table.from_pandas(frame, schema=arrow, preserve_index=False))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(upright)


def _image_bytes(image: Stored, ext: str, resize: int | None, upright: list) -> bytes:
    """A stored image's bytes: resized first with `resize`, or written upright (`upright_copy`, which
    is noted in `upright`)."""
    from curate.errors import DataContractError

    if resize:
        return resized_jpeg(image, resize)
    plain = upright_copy(image, ext)
    if plain is not None:
        upright.append(ext)
        return plain
    if isinstance(image, Fetched):
        return image.data
    try:
        return Path(image).read_bytes()
    except FileNotFoundError as exc:
        raise DataContractError(f"stored image {image} disappeared during the export; run `curate export` "
                                "again (it resumes)") from exc
