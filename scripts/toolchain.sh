#!/bin/sh
# Installs the pinned toolchain (Deno, Supabase CLI) on first use, so every npm script works on a fresh clone.
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/supabase ]; then
  npm ci --no-audit --no-fund >&2
fi
