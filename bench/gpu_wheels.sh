#!/usr/bin/env bash
# Wheels that a GPU machine lent through this workplace's device tool lacks, into .whl/ (ignored
# by git; ~55 MB, carried with the run: see bench/gpu_run.sh). That machine's image has Python
# 3.12 with PyTorch, torchvision, timm, OpenCV, scikit-learn, NumPy and Pillow, and no network;
# shotseek's indexing also needs these, at the versions uv.lock pins for Python 3.12.
#
#     bash bench/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export NAMES="annotated-types av ftfy open-clip-torch platformdirs pydantic pydantic-core
pydantic-settings python-dotenv qdrant-edge-py typing-inspection wcwidth"
pins=$(python3 -m uv export --frozen --no-hashes --no-dev --format requirements-txt | python3 -c '
import os, sys
from pip._vendor.packaging.markers import Marker

device = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
          "platform_machine": "x86_64", "platform_system": "Linux", "implementation_name": "cpython"}
names = set(os.environ["NAMES"].split())
for line in sys.stdin:
    pin, _, marker = line.strip().partition(" ; ")
    if pin.partition("==")[0] in names and (not marker or Marker(marker).evaluate(device)):
        print(pin)
')
rm -rf .whl && mkdir .whl
# shellcheck disable=SC2086  # one argument per pin
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl $pins
ls .whl
du -sh .whl
