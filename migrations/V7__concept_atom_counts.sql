-- Atom counts per concept, kept by statement-level triggers on learning_atoms, so that
-- jitgen.find_gaps reads 100,000 counts instead of aggregating a million atoms (bench/content.sh:
-- 298 ms before, against a 150 ms target). A concept without a row has no atoms. Roles that
-- call jitgen.find_gaps read it (find_gaps runs as its caller): grant them SELECT on it as on
-- concepts and learning_atoms.
CREATE TABLE IF NOT EXISTS concept_atom_counts (
    concept_id uuid PRIMARY KEY REFERENCES concepts ON DELETE CASCADE,
    atoms      int  NOT NULL CHECK (atoms >= 0)
);

INSERT INTO concept_atom_counts (concept_id, atoms)
SELECT concept_id, count(*) FROM learning_atoms GROUP BY concept_id
ON CONFLICT (concept_id) DO UPDATE SET atoms = EXCLUDED.atoms;

-- SECURITY DEFINER: the counts follow atoms written by any role allowed to write atoms, which
-- then needs no write grant on the counts. It is reachable only as a trigger (a trigger
-- function cannot be called directly), pins its search_path, and PUBLIC may not execute it.
CREATE OR REPLACE FUNCTION learning_atoms_count() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE public.concept_atom_counts n SET atoms = n.atoms - d.gone
        FROM (SELECT concept_id, count(*) AS gone FROM old_atoms GROUP BY concept_id) d
        WHERE n.concept_id = d.concept_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- Sorted, so concurrent batches lock the count rows in one order.
        INSERT INTO public.concept_atom_counts AS n (concept_id, atoms)
        SELECT concept_id, count(*) FROM new_atoms GROUP BY concept_id ORDER BY concept_id
        ON CONFLICT (concept_id) DO UPDATE SET atoms = n.atoms + EXCLUDED.atoms;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION learning_atoms_count() FROM PUBLIC;

CREATE TRIGGER learning_atoms_count_insert AFTER INSERT ON learning_atoms
    REFERENCING NEW TABLE AS new_atoms FOR EACH STATEMENT EXECUTE FUNCTION learning_atoms_count();
CREATE TRIGGER learning_atoms_count_delete AFTER DELETE ON learning_atoms
    REFERENCING OLD TABLE AS old_atoms FOR EACH STATEMENT EXECUTE FUNCTION learning_atoms_count();
CREATE TRIGGER learning_atoms_count_update AFTER UPDATE ON learning_atoms
    REFERENCING OLD TABLE AS old_atoms NEW TABLE AS new_atoms FOR EACH STATEMENT EXECUTE FUNCTION learning_atoms_count();
