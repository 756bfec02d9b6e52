"""`classify predict RUN PATHS...`: images and folders -> a CSV of top-k labels.

Every file becomes one row. A file that is not a usable image gets a reason in the
`error` column (the same reasons as ingest's drop_reason: empty_file, not_an_image,
truncated_image, too_small, decompression_bomb, animated, unsupported_format, unreadable_file — also a named
pipe, device or socket, never read —, file_too_large over 256 MiB) and the run goes on:
errors are data, as in img2dataset. A Parquet row is named by its row number (or key) as ingest
names it, and by its own name (photo_id, image path or key) in a `source_name` column.

Images are decoded once, straight to the model's input size (`classify.decode`: JPEG
DCT-scaled, EXIF orientation applied), giving the probabilities `classify evaluate` and
`classify serve` give the same photo (up to rounding for EXIF-rotated photos).

Behind the run's topic gate (`classify.gate`; default when the run has one, `--no-gate` to
leave it out) the same forward pass also gives the topic score: the CSV gets `label`
(`off_topic` below the gate's threshold, else label_1) and `topic_score` columns.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from classify.decode import MAX_FILE_BYTES, decode_for_model, read_regular_file
from classify.gate import OFF_TOPIC, load_gate
from curate.errors import UsageError
from curate.ingest.folder_scan import IMAGE_EXTENSIONS, linked_warning, scan_folder, skipped_clause, skipped_warning
from curate.settings_fields import SettingError, setting
from curate.store import BadImage
from curate.workspace import atomic_write_bytes

DEFAULT_OUT = Path("predictions.csv")
DECODE_THREADS = min(8, os.cpu_count() or 1)  # Pillow releases the GIL while decoding


@dataclass(frozen=True)
class PredictSettings:
    """`classify predict`'s settings, one flag each (curate.settings_fields)."""

    out: Path = setting(DEFAULT_OUT, flag="--out,-o", metavar="PATH", help="CSV to write.")
    top_k: int = setting(3, help="Labels per image, most probable first.")
    batch_size: int = setting(32, help="Images per forward pass.")
    device: str = setting("auto", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")
    gate: bool = setting(True, flag="--gate/--no-gate", help=(
        "Answer off_topic below the run's topic gate (default); --no-gate: the classifier alone."))

    def __post_init__(self):
        check_counts(self.top_k, self.batch_size)


def check_counts(top_k: int, batch_size: int) -> None:
    """SettingError unless top_k and batch_size are at least 1."""
    if top_k < 1 or batch_size < 1:
        raise SettingError("{top_k} and {batch_size} must be at least 1", "top_k", "batch_size")


@dataclass(frozen=True)
class Contained:
    """A photo inside a tar shard or a Parquet file of a folder given to predict: `container` the file,
    `where` what curate.ingest.containers.photo_bytes needs to read it (offset and size, or row group and row)."""

    container: Path
    name: str  # the photo's name inside the container
    where: tuple[tuple[str, object], ...]
    source_name: str | None = None  # a Parquet row's own name (parquet_shards.row_names), when it has one

    def __str__(self) -> str:
        return f"{self.container}/{self.name}"

    def read(self) -> bytes:
        from curate.ingest.containers import photo_bytes
        from curate.ingest.parquet_shards import NoImage

        where = dict(self.where)
        if where.get("tar_size", 0) > MAX_FILE_BYTES:
            raise BadImage("file_too_large", f"{where['tar_size']:,} bytes; the limit is {MAX_FILE_BYTES:,}")
        try:
            data = photo_bytes(str(self.container), where)
        except NoImage as exc:
            raise BadImage("missing_file", str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - OSError, or pyarrow's errors for a damaged row group
            raise BadImage("unreadable_file", str(exc)[:160] or "the container could not be read") from None
        if len(data) > MAX_FILE_BYTES:
            raise BadImage("file_too_large", f"{len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}")
        return data


def find_images(paths: list[Path]) -> tuple[list[Path | Contained], list[str]]:
    """(files named on the command line (any extension) plus the photos found under folders; warnings
    about what those folders held beside them).

    Folders are searched recursively as `curate ingest folder` scans them: files with the extensions ingest
    accepts (.jpg, .png, .heic, ...), and the photos inside uncompressed tar shards (WebDataset) and Parquet
    files with an image column (img2dataset, Hugging Face), read in place; hidden files and folders are
    skipped, linked folders are not followed, the order is sorted by path within each folder given (then
    the containers' photos). Other files (a phone export's .mov, a camera's .dng; sidecars and notes
    excepted), containers that cannot be read and linked folders are named in the warnings, so no photo is
    left out without a word.

    >>> find_images([])
    Traceback (most recent call last):
    ...
    curate.errors.UsageError: give at least one image or folder, e.g. `classify predict RUN photos/`
    """
    from curate.ingest.containers import index_parquet_files, index_shards

    if not paths:
        raise UsageError("give at least one image or folder, e.g. `classify predict RUN photos/`")
    found: list[Path | Contained] = []
    skipped: Counter = Counter()
    linked: list[str] = []
    warnings: list[str] = []
    for path in paths:
        if path.is_dir():
            scan = scan_folder(path)
            found.extend(path / name for name in scan.images)
            skipped.update(scan.skipped)
            linked.extend((path / name).as_posix() for name in scan.linked)
            root = path.resolve()
            members, tar_warnings = index_shards(root, scan.tar_files)
            cells, _, parquet_warnings = index_parquet_files(root, scan.parquet_files)
            warnings += tar_warnings + parquet_warnings
            for name in sorted(member for member in members if _is_photo_name(member)):
                container, member = name.rsplit("/", 1)
                where = (("tar_offset", members[name][1].offset), ("tar_size", members[name][1].size))
                found.append(Contained(path / container, member, where))
            own_names = _parquet_row_names(cells)
            for name in sorted(cells):
                container, member = name.rsplit("/", 1)
                file_path, column, group, row = cells[name]
                found.append(Contained(path / container, member,
                                       (("pq_column", column), ("pq_group", group), ("pq_row", row)),
                                       own_names.get((file_path, group, row))))
        elif path.exists() or path.is_symlink():  # a dangling link is listed and reported unreadable
            found.append(path)
        else:
            raise UsageError(f"{path} does not exist; give existing images or folders")
    found = list(dict.fromkeys(found))  # a file named twice (or also found in a folder) is one row
    if not found:
        raise UsageError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) under "
                         f"{', '.join(str(p) for p in paths)}{skipped_clause(skipped)}"
                         f"{'; ' + warnings[0] if warnings else ''}")
    if skipped:
        warnings.insert(0, skipped_warning(skipped, reader="predict"))
    if linked:
        warnings.append(linked_warning(linked, fix="were not predicted; name the folder each links to"))
    return found, warnings


def _parquet_row_names(cells: dict[str, tuple]) -> dict[tuple[str, int, int], str]:
    """(Parquet file, row group, row) -> the row's own name (`row_names`: its photo_id, image path or key) for
    the Parquet files of `index_parquet_files`' cells. The member names stay row numbers (they are in ingest's
    source ids); this is the name to join predictions back to the rows with (audit AZ F5). A file that cannot be
    read a second time gives no names (its rows are still predicted, by member name)."""
    from curate.ingest.parquet_shards import row_names

    names = {}
    for file_path in sorted({cell[0] for cell in cells.values()}):
        try:
            names.update({(file_path, *where): name for where, name in row_names(file_path).items()})
        except Exception:  # noqa: BLE001 - OSError or pyarrow's errors: the names are an extra, the photos are not
            continue
    return names


def _is_photo_name(name: str) -> bool:
    return not name.rsplit("/", 1)[-1].startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _load(path: Path | Contained, preprocess):
    """(RGB image, None) or (None, error text) for one file, or one photo inside a container.

    Only regular files are read (a named pipe would block, `/dev/zero` never ends), up to
    `classify.decode.MAX_FILE_BYTES`."""
    try:
        data = path.read() if isinstance(path, Contained) else read_regular_file(path)
        return decode_for_model(data, preprocess), None
    except BadImage as exc:
        return None, str(exc)


def predict_files(predictor, files: list[Path | Contained], top_k: int = 3, batch_size: int = 32, advance=None,
                  gate=None) -> pd.DataFrame:
    """One row per file: path, label_1, probability_1, ..., label_k, probability_k, error.

    When some of `files` are Parquet rows with a name of their own (`Contained.source_name`: a curate
    export's photo_id, a Hugging Face image's path, an img2dataset key), a `source_name` column follows
    `path`, empty for the other files: `path` names a Parquet row by its row number, as ingest does.

    `error` is empty for a predicted file, else "reason" or "reason: detail" (the reason is
    the part before the first colon); its labels and probabilities are left empty. Each
    batch is classified in one forward pass while the next one decodes.

    With a `gate` (`classify.gate.Gate`), the same forward pass also gives the topic score:
    two more columns, `label` (the answer: `off_topic` below the gate's threshold, else
    label_1) and `topic_score` (P(on topic), for every predicted row).
    """
    check_counts(top_k, batch_size)
    k = min(top_k, len(predictor.classes))
    named = any(isinstance(path, Contained) and path.source_name for path in files)
    rows = []
    for batch, loaded in _decoded_batches(files, batch_size, predictor.preprocess):
        good = [image for image, _ in loaded if image is not None]
        probabilities, topic = classify_batch(predictor, good, gate)
        ranked, topic = iter(predictor.top_k(probabilities, k)), iter(topic)
        for path, (_, error) in zip(batch, loaded):
            row = {"path": str(path)}
            if named:
                row["source_name"] = (path.source_name if isinstance(path, Contained) else None) or ""
            labels = next(ranked) if error is None else []
            if gate is not None and error is None:
                row["topic_score"] = float(next(topic))
                row["label"] = OFF_TOPIC if row["topic_score"] < gate.threshold else labels[0][0]
            for rank, (label, probability) in enumerate(labels, start=1):
                row[f"label_{rank}"], row[f"probability_{rank}"] = label, probability
            rows.append({**row, "error": error or ""})
        if advance:
            advance(len(batch))
    gated = ["label", "topic_score"] if gate is not None else []
    columns = ["path", *(["source_name"] if named else []), *gated,
               *(f"{kind}_{rank}" for rank in range(1, k + 1) for kind in ("label", "probability")),
               "error"]
    return pd.DataFrame(rows, columns=columns)


def classify_batch(predictor, images: list, gate=None):
    """(class probabilities, topic scores) of decoded images from one forward pass; without a
    `gate` the topic scores are an empty array and the plain classifier runs."""
    if gate is None:
        return predictor.probabilities(images), np.zeros(0)
    probabilities, features = predictor.predict_with_features(images)
    return probabilities, gate.scores(features) if len(images) else np.zeros(0)


def _decoded_batches(files: list[Path | Contained], batch_size: int, preprocess):
    """Yield (paths, [(image, error), ...]) per batch, decoding one batch ahead on a thread pool.

    At most two batches of images are in memory, however many files there are.
    """
    batches = [files[start:start + batch_size] for start in range(0, len(files), batch_size)]
    with ThreadPoolExecutor(DECODE_THREADS) as pool:

        def submit(batch):
            return [pool.submit(_load, path, preprocess) for path in batch]

        pending = submit(batches[0]) if batches else []
        for index, batch in enumerate(batches):
            loaded = [future.result() for future in pending]
            pending = submit(batches[index + 1]) if index + 1 < len(batches) else []
            yield batch, loaded


def check_out(out: Path) -> None:
    """UsageError unless `out` can be written as a file (checked before predicting anything). An existing
    file is replaced only when it is an earlier predictions CSV (`is_predictions_csv`): audit X's `-o
    ws/catalog.parquet`, `-o RUN/model.json` and `predict photo.jpg -o photo.jpg` each replaced what they
    named with the CSV, exit 0."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file path such as {out / DEFAULT_OUT.name}")
    if out.exists() and not is_predictions_csv(out):
        raise UsageError(f"--out {out} exists and is not a predictions CSV (one `classify predict` wrote), so it is "
                         "not replaced; choose another --out, or move that file away first")
    folder = next(part for part in (out.absolute().parent, *out.absolute().parents) if part.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out} cannot be written ({folder} is not a writable folder); choose another --out")


def is_predictions_csv(path: Path) -> bool:
    """Whether `path` is empty or starts like a CSV `write_predictions` writes: a header line (of any
    length: 200 classes at --top-k 200 make one of 5 KB, audit O) naming `path` first and `error` last,
    read through a UTF-8 BOM, quotes and `;` separators (a spreadsheet's re-save)."""
    try:
        with open(path, "rb") as handle:
            header = handle.readline(1 << 20)
    except OSError:
        return False
    if not header:
        return True  # nothing to lose
    fields = [field.strip().strip('"') for field in
              re.split(r"[,;]", header.decode("utf-8", errors="replace").lstrip("\ufeff").strip())]
    return fields[0] == "path" and fields[-1] == "error"


def write_predictions(frame: pd.DataFrame, out: Path) -> None:
    """Write the CSV atomically: a reader sees the old file or the whole new one."""
    check_out(out)
    try:
        # A file name that is not UTF-8 (surrogate-escaped by Python) is written with \x escapes.
        atomic_write_bytes(out, frame.to_csv(index=False).encode("utf-8", errors="backslashreplace"))
    except OSError as exc:
        raise UsageError(f"--out {out} cannot be written ({exc.strerror or exc}); choose another --out") from None


def summary_line(frame: pd.DataFrame, out: Path) -> str:
    """'12 predicted, 2 unreadable (empty_file 1, not_an_image 1); wrote predictions.csv', plus
    ', 3 answered off_topic by the gate' when the run's topic gate was applied."""
    errors = frame["error"][frame["error"] != ""]
    reasons = Counter(error.split(":", 1)[0] for error in errors)
    detail = f" ({', '.join(f'{reason} {n}' for reason, n in sorted(reasons.items()))})" if reasons else ""
    gated = f", {int((frame['label'] == OFF_TOPIC).sum())} answered {OFF_TOPIC} by the gate" \
        if "label" in frame.columns else ""
    return f"{len(frame) - len(errors)} predicted{gated}, {len(errors)} unreadable{detail}; wrote {out}"


def no_gate_recorded(run: Path) -> str:
    """Why the run has no gate, as `classify train` recorded it in model.json (audit R: a run whose topic was
    on every photo was said to be "trained without `curate prefilter` drops" by predict and serve)."""
    import json

    try:
        reason = json.loads((Path(run) / "model.json").read_text(encoding="utf-8")).get("gate", {}).get("reason")
    except (OSError, ValueError, AttributeError):
        reason = None
    return reason if isinstance(reason, str) and reason else "trained without `curate prefilter` drops"


def gate_for(run: Path, use_gate: bool, feature_dim: int | None = None):
    """(the run's gate or None, a line to say once or None): none when `use_gate` is False
    (--no-gate) or the run was trained without one. UsageError when the gate does not fit the
    model's `feature_dim` (checked before any image is read or any request answered)."""
    if not use_gate:
        return None, None
    gate = load_gate(run)
    if gate is None:
        return None, f"{run} has no topic gate ({no_gate_recorded(run)}): answering with the classifier alone"
    if feature_dim is not None and len(gate.coef) != feature_dim:
        raise UsageError(f"the topic gate in {run} reads {len(gate.coef)} features but the model gives {feature_dim}: "
                         "they come from different runs; train the run again, or pass --no-gate")
    return gate, None


