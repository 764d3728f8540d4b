#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs the form parser
# fuzzer for SECONDS (default 30). The corpus grows in build-fuzz/corpus/form_parser across
# runs; crashes land in build-fuzz/artifacts/. Exits non-zero when the fuzzer finds a bug.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${AGENTD_FUZZ_BUILD_DIR:-$root/build-fuzz}"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DAGENTD_FUZZ=ON >/dev/null
cmake --build "$build" --target form_parser_fuzz

corpus="$build/corpus/form_parser"
artifacts="$build/artifacts/"
mkdir -p "$corpus" "$artifacts"
# Seeds: one valid body per boundary the target can pick (the first input byte selects it;
# bytes 2-3 choose the split point). Cheap to rewrite on every run.
seed() {  # seed <file> <flags-byte-octal> <boundary>
  local b="$3"
  printf "\\$2\\001\\000preamble\r\n--%s\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.bin\"; filename*=UTF-8''%%C3%%A9.bin\r\nContent-Type: application/octet-stream\r\n\r\n\000\r\n--%s-\r\n--%s--\r\nepilogue" \
    "$b" "$b" "$b" "$b" >"$corpus/$1"
}
seed seed_x 000 'X'
seed seed_dash 001 '--b-='
seed seed_webkit 002 'WebKitFormBoundary7MA4YWxk'
seed seed_bchars 003 "a b'()+_,-./:=?"
printf '\000\000\000prompt=hello+world%%21&a=%%2B&b' >"$corpus/seed_urlencoded"
printf '\000\000\000multipart/form-data; boundary="q b"\n--q b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--q b--' \
  >"$corpus/seed_content_type"

exec "$build/fuzz/form_parser_fuzz" -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$artifacts" "$corpus"
