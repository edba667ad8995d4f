-- Seed 004 from psql: a node posts its voice commands; jitgen validates them, builds the
-- dataset in the database and queues one training job. (The demo script then starts the
-- sidecar, which trains, uploads to S3 and notifies over MQTT.)
DROP ROLE IF EXISTS node_kitchen_1;
CREATE ROLE node_kitchen_1;
GRANT USAGE ON SCHEMA jitgen TO node_kitchen_1;
-- An administrator registers the node. Its LoRA params suit the demo's random 2-layer base,
-- which needs more help than a pretrained one: every linear layer, 30 epochs, no dropout.
SELECT jitgen.register_node('kitchen-1', 'acme', 'tiny-qwen2', 'node_kitchen_1', 6, 'Europe/Paris',
    '{"dropout": 0, "epochs": 30,
      "target_modules": ["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]}') ->> 'node_id' AS registered;

SET ROLE node_kitchen_1;
-- A bad payload: 22023 with the seed's 400 body as DETAIL; nothing is stored.
SELECT jitgen.train_adapter('kitchen-1', 'tiny-qwen2',
    '[{"command_name": "set_timer", "description": "Start a timer", "parameters": [{"name": "minutes", "type": "integer"}], "examples": []}]');
-- The real commands: one queued job with its dataset hash and pair counts.
SELECT jitgen.train_adapter('kitchen-1', 'tiny-qwen2', :'commands');
-- The same commands again (in another order): no new job.
SELECT jitgen.train_adapter('kitchen-1', 'tiny-qwen2',
    (SELECT jsonb_agg(c ORDER BY c->>'command_name' DESC) FROM jsonb_array_elements(:'commands'::jsonb) c)) - 'counts';
SELECT job_id, dataset_hash, counts FROM jitgen.adapter_jobs;
RESET ROLE;
