#!/usr/bin/env bash
# Installs everything jitgen needs on a Debian 12 machine; safe to run again.
source "$(dirname "$0")/lib.sh"
setup_all
log "setup complete"
