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

log "the same node over HTTP (jitgen api): a bearer token per node and seed 004's routes"
api_out="$(mktemp /tmp/jitgen-api.XXXXXX)"
JITGEN_LOG=warn target/release/jitgen api --listen 127.0.0.1:0 >"$api_out" &
api=$!
trap '{ kill "$api" 2>/dev/null || true; }; stop_services; stop_cluster' EXIT
for _ in $(seq 1 200); do [ -s "$api_out" ] && break; sleep 0.05; done
api_url="$(head -1 "$api_out")"
token="$(psql -X -At -c "SELECT jitgen.issue_node_token('kitchen-1', interval '1 day', 'demo')")"
echo "token issued once by an operator: ${token:0:8}… (only its sha256 is stored)"
node_post() {  # $1: command_schema JSON
    jq -n --argjson c "$1" '{node_id: "kitchen-1", base_model_id: "smollm2-135m-instruct", command_schema: $c}' |
        curl -s -H "Authorization: Bearer $token" -H 'content-type: application/json' --data-binary @- \
            -w '\n' "$api_url/adapters/train"
}
echo "POST $api_url/adapters/train with invalid commands:"
node_post '[{"command_name": "set_timer", "description": "Start a timer", "parameters": [{"name": "minutes", "type": "integer"}], "examples": []}]' | jq -c .
echo "POST $api_url/adapters/train with the node's commands (the job queued above is reused):"
posted="$(node_post "$(cat demo/adapter_commands.json)")"
echo "$posted" | jq -c '{job_id, status, dataset_hash, reused}'
job="$(echo "$posted" | jq -r .job_id)"
echo "GET without a token: HTTP $(curl -s -o /dev/null -w '%{http_code}' "$api_url/adapters/jobs/$job")"
models="$(mktemp -d /tmp/jitgen-models.XXXXXX)"
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t 'jitgen/nodes/+/adapter_ready' -C 1 -W 900 -v >"$models/mqtt.txt" &
subscriber=$!
log "jitgen run with S3 and MQTT trains the node's adapter on SmolLM2-135M-Instruct (CPU, a few minutes; quality gate 0.80)"
JITGEN_BASE_MODELS="smollm2-135m-instruct=$JG_BASE_MODEL_DIR" JITGEN_ADAPTER_CACHE="$models/cache" JITGEN_TRAIN_LR=2e-3 \
    JITGEN_METRICS_ADDR=off JITGEN_LOG=warn target/release/jitgen run &
worker=$!
status="" last=""
for _ in $(seq 1 900); do
    polled="$(curl -s -H "Authorization: Bearer $token" "$api_url/adapters/jobs/$job")"
    line="$(echo "$polled" | jq -r '"\(.status) | \(.progress * 100 | floor)% | \(.progress_message // "")"')"
    # Only changes: a line per second for minutes says nothing.
    [ "$line" = "$last" ] || echo "  GET /adapters/jobs/$job: $line"
    last="$line"
    status="$(echo "$polled" | jq -r .status)"
    case "$status" in complete|failed|dead|canceled) break ;; esac
    sleep 1
done
psql -X -c "SELECT jsonb_pretty(jitgen.adapter_job($job) - 'counts')"
[ "$status" = complete ] || die "the adapter job ended $status"
wait "$subscriber" || die "no adapter_ready message arrived"
log "the node's MQTT message"
cat "$models/mqtt.txt"
url="$(echo "$polled" | jq -r .artifact_url)"
expected="$(psql -X -At -c "SELECT sha256 FROM jitgen.adapter_artifacts WHERE job_id = $job")"
curl -sf -o "$models/adapter.tar" "$url"
log "the node downloaded its adapter from the artifact_url of GET /adapters/jobs/$job: $(sha256sum "$models/adapter.tar" | cut -c1-64) (stored sha256 $expected)"
[ "$(sha256sum "$models/adapter.tar" | cut -c1-64)" = "$expected" ] || die "downloaded bytes differ from the stored ones"
tar -tvf "$models/adapter.tar"
log "the quality gate on the holdout (greedy decoding of utterances the adapter never saw)"
tar -xOf "$models/adapter.tar" training_report.json |
    jq -c '{gate: .gate, metrics: (.metrics | del(.examples)), holdout: .metrics.examples, train_s: (.timings.train_s | floor)}'
kill -TERM "$worker"; wait "$worker" || true

log "jitgen serve: the base model and each node's adapter behind one OpenAI-compatible endpoint"
serve_out="$(mktemp /tmp/jitgen-serve.XXXXXX)"
JITGEN_LOG=warn target/release/jitgen serve --model-dir "$JG_BASE_MODEL_DIR" --listen 127.0.0.1:0 >"$serve_out" &
serve=$!
trap '{ kill "$api" "$serve" 2>/dev/null || true; }; stop_services; stop_cluster' EXIT
for _ in $(seq 1 600); do [ -s "$serve_out" ] && break; sleep 0.1; done
serve_url="$(head -1 "$serve_out")"
[ -n "$serve_url" ] || die "jitgen serve printed no URL"
curl -s "$serve_url/models" | jq -c '[.data[].id]'
system="$(psql -X -At -c "SELECT jitgen.adapter_dataset_jsonl(dataset) FROM jitgen.adapter_jobs WHERE job_id = $job" | sed -n 1p | jq -r .system)"
ask() {  # $1: model, $2: utterance
    jq -n --arg m "$1" --arg s "$system" --arg u "$2" \
        '{model: $m, messages: [{role: "system", content: $s}, {role: "user", content: $u}], max_tokens: 48}' |
        curl -s -H 'content-type: application/json' --data-binary @- "$serve_url/chat/completions" |
        jq -r '"\(.choices[0].message.content // .error.message)   [\(.jitgen.decode_ms // 0 | floor) ms\(if .jitgen.adapter_load_ms then ", adapter loaded in \(.jitgen.adapter_load_ms | floor) ms" else "" end)]"'
}
for utterance in "set a timer for twelve minutes" "what is the weather in tokyo" "turn on the light in the bedroom"; do
    echo "\"$utterance\""
    echo "  kitchen-1's adapter: $(ask smollm2-135m-instruct:kitchen-1 "$utterance")"
    echo "  the base model:      $(ask smollm2-135m-instruct "$utterance")"
done
echo "an unknown node: $(ask smollm2-135m-instruct:hall-9 "hello")"
curl -s "$(dirname "$serve_url")/metrics" | grep -E '^jitgen_serve_(adapter_cache|adapter_load_seconds_(sum|count)|generated_tokens)'

log "the base model as the LLM of every LLM path (session, programs, content, the oracle's coder)"
LLM_API_ENDPOINT="$serve_url/chat/completions" LLM_API_KEY=local LLM_MODEL=smollm2-135m-instruct \
    PROGRAM_LLM_MODEL=smollm2-135m-instruct PROGRAM_LLM_MAX_TOKENS=768 PROGRAM_LLM_TIMEOUT_MS=240000 \
    JITGEN_PROGRAM_FALLBACK=template LLM_TIMEOUT_MS=120000 JITGEN_METRICS_ADDR=off JITGEN_LOG=warn target/release/jitgen run &
worker=$!
psql -X -v ON_ERROR_STOP=0 -e -v endpoint="$serve_url/chat/completions" -f demo/real_llm.sql
kill -TERM "$worker" "$api" "$serve"; wait "$worker" "$api" "$serve" || true
rm -rf "$models" "$api_out" "$serve_out"

log "the optimisation oracle (seed 001): prompt → rule → coder → sandboxed tests and shadow replay → generated code"
ensure_sandbox_venv
dev_out="$(mktemp /tmp/jitgen-dev-llm.XXXXXX)"
target/release/jitgen dev-llm --latency-ms 200 >"$dev_out" &
devllm=$!
trap '{ kill "$devllm" 2>/dev/null || true; }; stop_services; stop_cluster' EXIT
for _ in $(seq 1 200); do [ -s "$dev_out" ] && break; sleep 0.05; done
dev_url="$(head -1 "$dev_out")"
[ -n "$dev_url" ] || die "jitgen dev-llm printed no URL"
jit_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LLM_API_ENDPOINT="$dev_url" LLM_API_KEY=local LLM_MODEL=jitgen-dev-llm JITGEN_JIT_LISTEN="127.0.0.1:$jit_port" \
    JITGEN_ORACLE_INTERVAL_S=0 JITGEN_METRICS_ADDR=off JITGEN_LOG=warn target/release/jitgen run &
worker=$!
psql -X -v ON_ERROR_STOP=0 -e -v endpoint="$dev_url" -v jit_endpoint="http://127.0.0.1:$jit_port/v1/chat/completions" -f demo/oracle.sql
[ "$(psql -X -At -c "SELECT handler_type FROM jitgen.components WHERE app_id = 'shop'")" = jit ] || die "the component was not switched to generated code"
kill -TERM "$worker" "$devllm"; wait "$worker" "$devllm" || true
rm -f "$dev_out"
log "demo finished; the throwaway cluster and services are removed on exit"
