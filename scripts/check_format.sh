#!/usr/bin/env bash
# Fails when a C++ file differs from the committed .clang-format style.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' 'bench/*.cc' 'fuzz/*.cc')
clang-format --dry-run --Werror $files
echo "format check: ok"
