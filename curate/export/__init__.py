"""`curate export`: the curated set in the formats other trainers read.

- `config.ExportConfig`: format (imagefolder, hf, hf-parquet, webdataset, csv), splits, link, labels,
  resize, licences, overwrite, shard limits; checked once (UsageError).
- `plan.plan_export`: a pure function, catalog -> export plan (which photo goes where; with `labels="all"`,
  no unsplit photo touching test or val; images exported under two labels counted).
- `spill.plan_from_file`: the same plan from the catalog file, streamed; from
  `curate.external_sort.EXTERNAL_ROWS` rows on, sorted on disk by DuckDB (nothing held per photo).
- `source.ImageSource`: where the stored images are read from (the workspace's folder, a local folder,
  or an object store: bytes read ahead by a bounded pool of threads).
- `sizes.SizeCache`: the sizes of the images on an object store, remembered between exports (a HEAD per
  image once, not on every export).
- `writers`: images into folders, WebDataset or Hugging Face Parquet shards, resumable, progress via a callback.
- `card`: ATTRIBUTION.csv, the dataset card README.md, export.json, each format's index.
- `upload`: an export to an object store (`--out s3://...`): staged in the workspace, then each file PUT
  once, resumable, stale objects of an earlier export removed.
- `run.export_workspace`: the I/O edge that puts them together.
"""

from curate.export.config import FORMATS, LINKS, ExportConfig
from curate.export.plan import ExportPlan, plan_export
from curate.export.run import ExportResult, export_workspace

__all__ = ["FORMATS", "LINKS", "ExportConfig", "ExportPlan", "ExportResult", "export_workspace", "plan_export"]
