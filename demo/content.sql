-- Seed 003: just-in-time learning content. A learner fails a question on a concept with too
-- few atoms; the answer's trigger queues a content.generate job; `jitgen run` asks the LLM
-- (here `jitgen dev-llm`, a scripted server: no model is reachable from this machine) and saves
-- the valid atoms with their tags; the gaps and the statistics show the result.
\pset pager off
INSERT INTO concepts (id, name, source_text) VALUES
  ('c0000000-0000-4000-8000-000000000001', 'OSPF',
   'OSPF is a link-state routing protocol. Routers flood link-state advertisements to their neighbours. Each router runs the shortest path first algorithm over its link-state database.'),
  ('c0000000-0000-4000-8000-000000000002', 'Spanning Tree',
   'The spanning tree protocol prevents switching loops. The bridge with the lowest bridge id becomes the root bridge.'),
  ('c0000000-0000-4000-8000-000000000003', 'Subnetting', NULL);
INSERT INTO learning_atoms (concept_id, atom_type, front, back) VALUES
  ('c0000000-0000-4000-8000-000000000002', 'flashcard', 'What does STP prevent?', 'Switching loops');

\echo '--- the seed''s mappings'
SELECT m AS fail_mode, jitgen.content_types_for(m) AS content_types, jitgen.atom_types_for(m) AS atom_types
FROM unnest(ARRAY['encoding_error', 'discrimination', 'INTEGRATION_FAILURE', 'fatigue']) AS m;
\echo '--- gaps before'
SELECT * FROM jitgen.find_gaps();

\echo '--- a learner fails a question on OSPF (no atoms yet): the trigger queues a job for 5 atoms'
INSERT INTO learner_answers (learner_id, concept_id, correct, fail_mode)
VALUES ('learner-1', 'c0000000-0000-4000-8000-000000000001', false, 'encoding_error');
\echo '--- and proactively for the next concepts (Subnetting has no source text: a warning, no atoms)'
SELECT * FROM jitgen.proactive_generation('learner-1', ARRAY['c0000000-0000-4000-8000-000000000002',
                                                            'c0000000-0000-4000-8000-000000000003']::uuid[]);

\echo '--- wait for the jobs'
SELECT j->>'id' AS job, j->'result'->>'trigger' AS trigger, j->>'state' AS state, j->'result'->>'saved' AS saved,
       j->'result'->'warnings'->>0 AS warning
FROM (SELECT id FROM jitgen.jobs WHERE kind = 'content.generate' ORDER BY id) q, LATERAL jitgen.await_job(q.id, 30000) AS j;

\echo '--- the atoms, suited ones first for the learner''s failure mode'
SELECT atom_type, left(front, 70) AS front, tags, quality_score
FROM jitgen.remediation_atoms('c0000000-0000-4000-8000-000000000001', 'encoding_error');
\echo '--- two requests with one key (concept, trigger, content types) share one job'
SELECT jitgen.request_content('c0000000-0000-4000-8000-000000000002', 'user_request', ARRAY['worked_example'])
       = jitgen.request_content('c0000000-0000-4000-8000-000000000002', 'user_request', ARRAY['worked_example']) AS same_job;
SELECT j->>'state' AS state, j->'result'->>'saved' AS saved, j->'result'->'atom_types' AS atom_types
FROM jitgen.await_job((SELECT max(id) FROM jitgen.jobs WHERE kind = 'content.generate'), 30000) AS j;
\echo '--- an unknown failure mode names the accepted ones'
SELECT jitgen.request_content('c0000000-0000-4000-8000-000000000001', 'failed_question', fail_mode => 'boredom');
\echo '--- gaps after, and the statistics'
SELECT * FROM jitgen.find_gaps();
SELECT * FROM jitgen.generation_stats;
