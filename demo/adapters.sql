-- Seed 004 from psql: a node posts its voice commands; jitgen validates them, builds the
-- dataset in the database and queues one training job. (The demo script then starts the
-- sidecar, which trains, uploads to S3 and notifies over MQTT.)
DROP ROLE IF EXISTS node_kitchen_1;
CREATE ROLE node_kitchen_1;
GRANT USAGE ON SCHEMA jitgen TO node_kitchen_1;
-- An administrator registers the node on the real base model (SmolLM2-135M-Instruct, converted
-- by the setup scripts). Seed 004's LoRA defaults (r 16, alpha 32, q/k/v/o); 6 epochs, as this
-- small command set (57 training pairs) needs to pass the 0.80 quality gate.
SELECT jitgen.register_node('kitchen-1', 'acme', 'smollm2-135m-instruct', 'node_kitchen_1', 6, 'Europe/Paris',
    '{"epochs": 6}') ->> 'node_id' AS registered;

SET ROLE node_kitchen_1;
-- A bad payload: 22023 with the seed's 400 body as DETAIL; nothing is stored.
SELECT jitgen.train_adapter('kitchen-1', 'smollm2-135m-instruct',
    '[{"command_name": "set_timer", "description": "Start a timer", "parameters": [{"name": "minutes", "type": "integer"}], "examples": []}]');
-- The real commands: one queued job with its dataset hash and pair counts.
SELECT jitgen.train_adapter('kitchen-1', 'smollm2-135m-instruct', :'commands');
-- The same commands again (in another order): no new job.
SELECT jitgen.train_adapter('kitchen-1', 'smollm2-135m-instruct',
    (SELECT jsonb_agg(c ORDER BY c->>'command_name' DESC) FROM jsonb_array_elements(:'commands'::jsonb) c)) - 'counts';
SELECT job_id, dataset_hash, counts FROM jitgen.adapter_jobs;
RESET ROLE;
