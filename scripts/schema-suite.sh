#!/usr/bin/env bash
# Conformance check of jitgen's JSON Schema validation against a local checkout of the
# official JSON-Schema-Test-Suite (json-schema-org), drafts 7 and 2020-12:
#   scripts/schema-suite.sh <suite-dir> [--assert-formats]
# The suite is another project's and is not vendored; clone it yourself where the network
# allows. --assert-formats shows what asserting `format` in 2020-12 would change.
source "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] && [ -d "$1/tests/draft2020-12" ] || die "usage: $0 <JSON-Schema-Test-Suite checkout> [--assert-formats]"
cd "$JG_ROOT"
exec cargo run -q -p jitgen-core --release --example schema_suite -- "$@"
