#!/usr/bin/env bash
# scripts/fuzz.sh <target> [seconds=600]: runs one cargo-fuzz target on the stable toolchain.
source "$(dirname "$0")/lib.sh"
target="${1:?target: validate_commands, json_schema or relative_dates}"
seconds="${2:-600}"
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd "$JG_ROOT/fuzz"
mkdir -p "corpus/$target"
cp -n seeds/"$target"/* "corpus/$target"/ 2>/dev/null || true
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096
