-- psql-visible behaviour of adapter ingest errors (pgmq is not needed: each fails before
-- anything is queued). VERBOSITY default shows DETAIL and HINT.
SELECT jitgen.register_node('bad id!', 'acme', 'tiny-llama');
SELECT jitgen.register_node('a..b', 'acme', 'tiny-llama');
SELECT jitgen.register_node('kitchen-1', 'acme', 'tiny-llama', 'no_such_role');
SELECT jitgen.register_node('kitchen-1', 'acme', 'tiny-llama', current_user, 6, 'Mars/Olympus');
SELECT jitgen.register_node('kitchen-1', 'acme', 'tiny-llama', current_user, 6, 'UTC', '{"rank": 0}');
SELECT jitgen.register_node('kitchen-1', 'acme', 'tiny-llama', current_user, 6, 'UTC', '{"epochs": 3, "typo": 1}');
SELECT node_id, tenant, base_model_id, max_jobs_per_hour
FROM jsonb_populate_record(NULL::jitgen.nodes, jitgen.register_node('kitchen-1', 'acme', 'tiny-llama'));

-- An unknown node, NULL arguments, and the seed's 400 body for a bad command list.
SELECT jitgen.train_adapter('garage-9', 'tiny-llama', '[]');
SELECT jitgen.train_adapter('kitchen-1', NULL, '[]');
SELECT jitgen.train_adapter('kitchen-1', 'tiny-llama', '[{"command_name": "Set Timer", "description": "",
  "parameters": [{"name": "minutes", "type": "array<float>x", "required": true}],
  "examples": [{"voice_command": "timer", "expected_parameters": {"seconds": 5}}]}]');
SELECT count(*) AS stored_commands FROM jitgen.node_commands;

-- Jobs that do not exist or are not visible.
SELECT jitgen.adapter_job(424242);
SELECT jitgen.cancel_adapter_job(424242);
SELECT jitgen.confirm_adapter_download(424242);
