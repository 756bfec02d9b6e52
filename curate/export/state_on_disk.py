"""The export state of a folder-format export whose plan is sorted on disk, kept in Parquet files
(`StateOnDisk`) so that nothing is held per photo."""

from __future__ import annotations

import bisect
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.export.state import JOURNAL_FILE, PLAN_FOLDER, STATE_FILE
from curate.export.targets import remove_empty_folders
from curate.workspace import temp_file_beside

STATE_BATCH = 65_536  # state rows read at a time by StateOnDisk


class StateOnDisk:
    """The export state of a folder-format export whose plan is sorted on disk, kept in Parquet
    files in `folder` (the export's temporary plan folder) instead of dicts, so that nothing is
    held per photo: what `load_state`, the writer's `{target: key}`, `remove_left` and
    `save_state` do, with the same results and the same `.export-state.parquet` bytes.

    The earlier state (state file, then the journal: a later line wins) is sorted by the plan's
    own order (split, then name, read back from each target: `[images/]<split>/<folder>/<name>.<ext>`),
    so `window(rows)` hands the writer, chunk by chunk, the earlier keys of the targets up to
    the chunk's last one. The new state is appended by `record` and sorted by target by DuckDB."""

    def __init__(self, out: Path, folder: Path):
        self.out, self.folder = out, folder
        self.recorded = 0
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[tuple[str, str, str, str]] = []
        self._batches = None
        self._load()

    def _load(self) -> None:
        from curate import external_sort

        arrow = pa.schema([("target", pa.string()), ("content_key", pa.string()), ("seq", pa.int64())])
        known, seq = self.folder / "known.parquet", 0
        with pq.ParquetWriter(known, arrow) as writer:
            path = self.out / STATE_FILE
            if path.exists():
                try:
                    for batch in external_sort.parquet_file(path).iter_batches(batch_size=STATE_BATCH,
                                                                   columns=["target", "content_key"]):
                        n = batch.num_rows
                        writer.write_table(pa.table([batch.column(0).cast(pa.string()),
                                                     batch.column(1).cast(pa.string()),
                                                     pa.array(range(seq, seq + n), pa.int64())], schema=arrow))
                        seq += n
                except (OSError, KeyError, ValueError, pa.ArrowException):
                    pass  # an unreadable state only costs a full rewrite (what was read of it stays)
            journal = self.out / JOURNAL_FILE
            if journal.exists():
                targets: list[str] = []
                keys: list[str] = []

                def flush() -> None:
                    nonlocal seq
                    writer.write_table(pa.table([pa.array(targets, pa.string()), pa.array(keys, pa.string()),
                                                 pa.array(range(seq, seq + len(targets)), pa.int64())], schema=arrow))
                    seq += len(targets)
                    targets.clear()
                    keys.clear()

                with open(journal, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        for part in line.splitlines():  # as load_state's splitlines
                            target, _, key = part.partition("\t")
                            if key:
                                targets.append(target)
                                keys.append(key)
                        if len(targets) >= STATE_BATCH:
                            flush()
                flush()
        source = external_sort.literal(str(known))
        with external_sort.connect(self.folder) as con:
            external_sort.write_parquet(con, f"""
                WITH latest AS (SELECT target, arg_max(content_key, seq) AS content_key FROM read_parquet({source})
                                GROUP BY target),
                     parts AS (SELECT target, content_key,
                                      CASE WHEN target LIKE 'images/%' THEN substr(target, 8) ELSE target END AS rest
                               FROM latest)
                SELECT split_part(rest, '/', 1) AS split, regexp_replace(regexp_extract(rest, '[^/]*$'),
                       '[.][^.]*$', '') AS name, target, content_key
                FROM parts ORDER BY split, name, target""", self.folder / "previous.parquet")
        known.unlink()
        self._batches = external_sort.parquet_file(self.folder / "previous.parquet").iter_batches(
            batch_size=STATE_BATCH)

    def window(self, rows: pd.DataFrame) -> dict[str, str]:
        """{target: key} of the earlier files up to the last of `rows` in the plan's order (rows:
        the plan's next chunk, with split, name and target); call it chunk after chunk, in order."""
        if not len(rows):
            return {}
        last = (rows["split"].iloc[-1], rows["name"].iloc[-1])
        while self._batches is not None and (not self._buffer or self._buffer[-1][:2] <= last):
            batch = next(self._batches, None)
            if batch is None:
                self._batches = None
                break
            self._buffer.extend(zip(*(batch.column(i).to_pylist() for i in range(4))))
        cut = bisect.bisect_right(self._buffer, last, key=lambda row: row[:2])
        found = {target: key for _, _, target, key in self._buffer[:cut]}
        del self._buffer[:cut]
        return found

    def record(self, targets: pd.Series, keys: pd.Series) -> None:
        """Append planned files and their keys to the new state."""
        arrow = pa.schema([("target", pa.string()), ("content_key", pa.string())])
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.folder / "state.parquet", arrow)
        self._writer.write_table(pa.table([pa.array(targets.to_numpy(dtype=object), pa.string()),
                                           pa.array(keys.to_numpy(dtype=object), pa.string())], schema=arrow))
        self.recorded += len(targets)

    def finish(self, out: Path, more: dict[str, str], everything: bool) -> int:
        """Add `more` (the files beside the images) to the new state, remove what left (as
        `remove_left`), write `.export-state.parquet` (as `save_state`); returns files removed."""
        from curate import external_sort

        self.record(pd.Series(list(more), dtype=object), pd.Series(list(more.values()), dtype=object))
        self._writer.close()
        new = external_sort.literal(str(self.folder / "state.parquet"))
        def read(name: str) -> str:
            return f"read_parquet({external_sort.literal(str(self.folder / name))})"

        sources = [f"SELECT target FROM {read('previous.parquet')}"]
        if everything:
            self._walk(out, self.folder / "walked.parquet")
            sources.append(f"SELECT target FROM {read('walked.parquet')} WHERE target NOT IN "
                           f"({external_sort.literal(STATE_FILE)}, {external_sort.literal(JOURNAL_FILE)})")
        with external_sort.connect(self.folder) as con:
            external_sort.write_parquet(con, f"""
                SELECT DISTINCT target FROM ({' UNION ALL '.join(sources)})
                WHERE target NOT IN (SELECT target FROM read_parquet({new})) ORDER BY target""",
                                        self.folder / "doomed.parquet")
            external_sort.write_parquet(con, f"SELECT target, content_key FROM read_parquet({new}) ORDER BY target",
                                        self.folder / "sorted-state.parquet")
        removed = 0
        for batch in external_sort.parquet_file(self.folder / "doomed.parquet").iter_batches(batch_size=STATE_BATCH):
            for target in batch.column(0).to_pylist():
                path = out / target
                if os.path.lexists(path):
                    path.unlink()
                    removed += 1
        remove_empty_folders(out)
        self._save(out)
        return removed

    def _walk(self, out: Path, path: Path) -> None:
        """Every file under `out` (relative paths) but the plan folders, to `path`."""
        arrow = pa.schema([("target", pa.string())])
        with pq.ParquetWriter(path, arrow) as writer:
            for folder, dirs, names in os.walk(out):
                base = Path(folder).relative_to(out)
                if str(base) == ".":
                    dirs[:] = [name for name in dirs if not name.startswith(PLAN_FOLDER)]
                writer.write_table(pa.table([pa.array([str(base / name) if str(base) != "." else name
                                                       for name in names], pa.string())], schema=arrow))

    def _save(self, out: Path) -> None:
        from curate import external_sort
        from curate.workspace import PARQUET_ROW_GROUP

        arrow = pa.Table.from_pandas(pd.DataFrame([("", "")], columns=["target", "content_key"]),
                                     preserve_index=False).schema  # save_state's schema, pandas metadata too
        fd, tmp_name = temp_file_beside(out / STATE_FILE)
        os.close(fd)
        try:
            with pq.ParquetWriter(tmp_name, arrow, compression="zstd") as writer:
                for table in external_sort.exact_batches(self.folder / "sorted-state.parquet", PARQUET_ROW_GROUP):
                    writer.write_table(table.cast(arrow), row_group_size=PARQUET_ROW_GROUP)
            with open(tmp_name, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp_name, out / STATE_FILE)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        (out / JOURNAL_FILE).unlink(missing_ok=True)
