#!/usr/bin/env bash
# Fails when a source file includes a module it may not depend on (docs/design.md codemap):
# http -> api -> runs -> {store, bus, agent, llm} -> core; implementations see only their
# own interface and core; only app/ sees everything.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [core]="core"
  [auth]="core auth"
  [auth/jwt]="core auth auth/jwt"
  [store]="core store"
  [store/sqlite]="core store store/sqlite"
  [bus]="core bus"
  [bus/memory]="core bus bus/memory"
  [llm]="core llm"
  [llm/builtin]="core llm llm/builtin"
  [llm/openai]="core llm llm/openai"
  [sandbox]="core sandbox"
  [sandbox/bwrap]="core sandbox sandbox/bwrap"
  [sandbox/tools]="core llm agent sandbox sandbox/tools"
  [files]="core sandbox files"
  [agent]="core llm agent"
  [billing]="core llm billing"
  [runs]="core store bus llm agent billing sandbox files runs"
  [api]="core store bus llm agent billing sandbox files runs auth api"
  [http]="core http"
  [http/handlers]="core store bus llm agent billing sandbox files runs auth api http http/handlers"
)
bad=0
while IFS= read -r -d '' file; do
  rel=${file#src/}
  module=$(dirname "$rel")
  [ "$module" = "app" ] && continue
  [ -n "${allowed[$module]+x}" ] || { echo "unknown module $module ($file)"; bad=1; continue; }
  while IFS= read -r inc; do
    target=$(dirname "$inc")
    ok=0
    for a in ${allowed[$module]}; do [ "$a" = "$target" ] && ok=1; done
    if [ $ok -eq 0 ]; then echo "$file includes \"$inc\": $module may not depend on $target"; bad=1; fi
  done < <(grep -oE '^#include "[^"]+"' "$file" | sed -E 's/#include "(.*)"/\1/')
done < <(find src -name '*.h' -print0 -o -name '*.cc' -print0)
[ $bad -eq 0 ] && echo "dependency check: ok"
exit $bad
