#!/bin/sh
# Installs the pinned toolchain (Deno, Supabase CLI, graphile-worker for the benchmark) on first use and
# after package-lock.json changes, so every npm script works on a fresh clone and after a pull.
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/supabase ] \
  || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
