#!/usr/bin/env bash
# The demo: installs what is missing, builds and installs the extension, starts a throwaway
# Postgres 15 on a free port, runs `jitgen migrate`, then shows each capability on real data.
source "$(dirname "$0")/lib.sh"
setup_all
cd "$JG_ROOT"
cargo build --release -p jitgen-sidecar -p jitgen-trainer
install_extension release
start_cluster
trap stop_cluster EXIT

log "jitgen migrate"
target/release/jitgen migrate

log "schema validation"
psql -X -v ON_ERROR_STOP=0 -v VERBOSITY=verbose -e -f demo/validation.sql \
    -v program="$(cat core/tests/fixtures/training_program.json)"

log "training-session JIT (seed 000)"
psql -X -v ON_ERROR_STOP=0 -e -f demo/session.sql

log "jobs: the sidecar worker processes what SQL enqueues"
metrics_port="$(free_port)"
JITGEN_METRICS_ADDR="127.0.0.1:$metrics_port" JITGEN_RETRY_BASE_MS=200 target/release/jitgen run &
worker=$!
psql -X -v ON_ERROR_STOP=1 -e -f demo/jobs.sql
target/release/jitgen status
log "GET /metrics"
curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -v '^#'
kill -TERM "$worker"; wait "$worker" || true

log "program generation (seed 002): onboarding -> trigger -> jitgen run -> LLM -> validated program under RLS"
llm_out="$(mktemp /tmp/jitgen-dev-llm.XXXXXX)"
target/release/jitgen dev-llm --latency-ms 300 >"$llm_out" &
dev_llm=$!
for _ in $(seq 1 200); do [ -s "$llm_out" ] && break; sleep 0.05; done
LLM_API_ENDPOINT="$(head -1 "$llm_out")" LLM_API_KEY=demo-key LLM_MODEL=jitgen-dev-llm PROGRAM_LLM_MODEL=jitgen-dev-llm JITGEN_METRICS_ADDR=off JITGEN_LOG=warn \
    target/release/jitgen run &
worker=$!
psql -X -v ON_ERROR_STOP=0 -e -f demo/programs.sql
log "learning content (seed 003): failed answer -> trigger -> jitgen run -> validated atoms; the operator CLI"
psql -X -v ON_ERROR_STOP=0 -e -f demo/content.sql
target/release/jitgen generate gaps --dry-run
target/release/jitgen generate stats
kill -TERM "$worker"; wait "$worker" || true
kill "$dev_llm"; wait "$dev_llm" 2>/dev/null || true
rm -f "$llm_out"

log "adapters (seed 004): commands -> dataset in SQL -> training job -> S3 -> MQTT -> download"
start_s3
start_mqtt
trap 'stop_services; stop_cluster' EXIT
psql -X -v ON_ERROR_STOP=0 -e -v commands="$(cat demo/adapter_commands.json)" -f demo/adapters.sql
job="$(psql -X -At -c "SELECT max(job_id) FROM jitgen.adapter_jobs WHERE node_id = 'kitchen-1'")"
# No model can be downloaded here: the base model is a tiny random Qwen2 whose tokenizer is
# trained on the job's own dataset (exported as the trainer's pairs.jsonl).
models="$(mktemp -d /tmp/jitgen-models.XXXXXX)"
psql -X -At -c "SELECT jitgen.adapter_dataset_jsonl(dataset) FROM jitgen.adapter_jobs WHERE job_id = $job" \
    >"$models/pairs.jsonl"
target/release/jitgen-train make-tiny --out "$models/tiny-qwen2" --corpus "$models/pairs.jsonl" --arch qwen2 \
    --hidden 128 --layers 2 --vocab 1024
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t 'jitgen/nodes/+/adapter_ready' -C 1 -W 600 -v >"$models/mqtt.txt" &
subscriber=$!
log "jitgen run with S3 and MQTT; quality gate lowered to 0 for this random 2-layer base (real bases pass 0.80)"
JITGEN_BASE_MODELS="tiny-qwen2=$models/tiny-qwen2" JITGEN_ADAPTER_CACHE="$models/cache" JITGEN_TRAIN_LR=3e-3 \
    JITGEN_GATE_THRESHOLD=0 JITGEN_METRICS_ADDR=off JITGEN_LOG=warn target/release/jitgen run &
worker=$!
status=""
for _ in $(seq 1 600); do
    line="$(psql -X -At -F ' | ' -c "SELECT j->>'status', round((j->>'progress')::numeric, 2), coalesce(j->>'progress_message', '') FROM jitgen.adapter_job($job) j")"
    echo "  job $job: $line"
    status="${line%% *}"
    case "$status" in complete|failed|dead|canceled) break ;; esac
    sleep 1
done
psql -X -c "SELECT jsonb_pretty(jitgen.adapter_job($job) - 'counts')"
[ "$status" = complete ] || die "the adapter job ended $status"
wait "$subscriber" || die "no adapter_ready message arrived"
log "the node's MQTT message"
cat "$models/mqtt.txt"
url="$(psql -X -At -c "SELECT url FROM jitgen.adapter_artifacts WHERE job_id = $job")"
expected="$(psql -X -At -c "SELECT sha256 FROM jitgen.adapter_artifacts WHERE job_id = $job")"
curl -sf -o "$models/adapter.tar" "$url"
log "downloaded the adapter with the presigned URL: $(sha256sum "$models/adapter.tar" | cut -c1-64) (stored sha256 $expected)"
[ "$(sha256sum "$models/adapter.tar" | cut -c1-64)" = "$expected" ] || die "downloaded bytes differ from the stored ones"
tar -tvf "$models/adapter.tar"
kill -TERM "$worker"; wait "$worker" || true
rm -rf "$models"
log "demo finished; the throwaway cluster and services are removed on exit"
