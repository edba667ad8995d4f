//! jitgen: thin SQL wrappers over `jitgen-core`. Big SQL lives in `sql/`.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod adapters;
mod content;
mod error;
mod guc;
mod identity;
mod jsonb;
mod llm_call;
mod oracle;
mod privileges;
mod program;
mod session;
mod validation;

pgrx::extension_sql_file!("../../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!("../../sql/jobs.sql", name = "jobs", requires = ["bootstrap"]);
pgrx::extension_sql_file!("../../sql/adapters.sql", name = "adapters", requires = ["jobs", adapters::_assemble_adapter_dataset, adapters::_check_adapter_params, adapters::_valid_node_id, adapters::_known_timezone, adapters::_date_context]);
pgrx::extension_sql_file!("../../sql/programs.sql", name = "programs", requires = ["jobs"]);
pgrx::extension_sql_file!("../../sql/content.sql", name = "content", requires = ["jobs", content::request_content, content::atom_types_for]);
pgrx::extension_sql_file!("../../sql/node_tokens.sql", name = "node_tokens", requires = ["adapters"]);
pgrx::extension_sql_file!("../../sql/oracle.sql", name = "oracle", requires = ["jobs", oracle::_check_component_schema]);
pgrx::extension_sql_file!("../../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::init();
    validation::init();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("tests.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
