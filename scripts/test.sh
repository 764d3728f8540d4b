#!/usr/bin/env bash
# One command to test: installs dependencies, builds, and runs the whole suite (unit and
# integration tests through CTest), then the whole suite again built with ASan+UBSan.
# SKIP_SANITIZE=1 skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check_deps.sh
bash scripts/check_format.sh
bash scripts/build.sh
(cd build && ctest -j2 --output-on-failure --timeout 300)
if [ "${SKIP_SANITIZE:-0}" != "1" ]; then
  BUILD_DIR=build-asan bash scripts/build.sh -DAGENTD_SANITIZE=ON
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest -j2 --output-on-failure --timeout 300)
fi
