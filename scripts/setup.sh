#!/usr/bin/env bash
# Installs every Debian 12 package agentd needs to build, test and benchmark.
# The one list of dependencies: README, scripts/serve.sh, scripts/test.sh and .ci/run all use it.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libcpp-jwt-dev libssl-dev
  libsqlite3-dev sqlite3
  libcurl4-openssl-dev uuid-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev
  clang clang-format libclang-rt-14-dev
  bubblewrap libseccomp-dev libmagic-dev poppler-utils
  curl wrk
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
