-- jitgen bootstrap: tables the functions below rely on. Runs first in CREATE EXTENSION.

-- Every registered version of every schema; the highest version of a name is the current one.
CREATE TABLE jitgen.schemas (
    name        text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    version     int         NOT NULL CHECK (version >= 1),
    schema      jsonb       NOT NULL,
    builtin     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name        NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE jitgen.schemas IS
    'JSON Schemas known to jitgen.validate/is_valid/assert_valid; write through jitgen.register_schema().';

-- User-registered schemas survive pg_dump/pg_restore; built-ins are recreated by the extension.
SELECT pg_catalog.pg_extension_config_dump('jitgen.schemas', 'WHERE NOT builtin');
