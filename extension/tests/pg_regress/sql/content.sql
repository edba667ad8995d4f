-- Seed 003's mappings: every failure mode, the content it calls for and the atom types that
-- deliver it (the mode's favourites first, no repeats, at most three; fatigue: none).
SELECT m AS fail_mode, jitgen.content_types_for(m) AS content_types, jitgen.atom_types_for(m) AS atom_types
FROM unnest(ARRAY['encoding', 'retrieval', 'discrimination', 'integration', 'executive', 'fatigue', 'none']) AS m;

-- Every spelling the origin used means the same mode.
SELECT stem, count(DISTINCT (jitgen.content_types_for(s), jitgen.atom_types_for(s))) AS distinct_answers
FROM unnest(ARRAY['encoding', 'retrieval', 'discrimination', 'integration', 'executive', 'fatigue', 'none']) AS stem,
     unnest(ARRAY[stem, stem || '_error', stem || '_failure', upper(stem) || '_ERROR', initcap(stem) || '-Failure']) AS s
GROUP BY stem ORDER BY stem;

SELECT jitgen.atom_types_for(NULL) AS no_diagnosis,
       jitgen.atom_types_for('discrimination', ARRAY['worked_example']) AS discrimination_worked,
       jitgen.atom_types_for('none', ARRAY['explanation']) AS explanation_only;

-- Unknown values name what is accepted.
SELECT jitgen.content_types_for('boredom');
SELECT jitgen.atom_types_for('encoding', ARRAY['video']);
SELECT jitgen.atom_types_for('encoding', ARRAY[NULL]);
