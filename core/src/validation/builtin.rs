//! The schemas jitgen ships. They are code, not rows: their rules beyond JSON Schema live here,
//! and the extension refuses to replace them so that every backend agrees on what they mean.

use std::sync::OnceLock;

use serde_json::Value;

use super::report::Report;
use super::schema::CompiledSchema;
use super::{commands, program};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    JitAdjustment,
    TrainingProgram,
    CommandSchema,
    LearningAtom,
}

impl Builtin {
    pub const ALL: [Builtin; 4] = [Builtin::JitAdjustment, Builtin::TrainingProgram, Builtin::CommandSchema, Builtin::LearningAtom];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::JitAdjustment => "jit_adjustment",
            Builtin::TrainingProgram => "training_program",
            Builtin::CommandSchema => "command_schema",
            Builtin::LearningAtom => "learning_atom",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The JSON Schema text as shipped (what `jitgen.schemas` shows for version 1).
    pub fn schema_text(self) -> &'static str {
        match self {
            Builtin::JitAdjustment => include_str!("builtin/jit_adjustment.json"),
            Builtin::TrainingProgram => include_str!("builtin/training_program.json"),
            Builtin::CommandSchema => include_str!("builtin/command_schema.json"),
            Builtin::LearningAtom => include_str!("builtin/learning_atom.json"),
        }
    }

    pub fn schema(self) -> Value {
        serde_json::from_str(self.schema_text()).expect("built-in schema is valid JSON")
    }

    /// Compiled once per process; built-ins never change at run time.
    pub fn compiled(self) -> &'static CompiledSchema {
        static CELLS: [OnceLock<CompiledSchema>; 4] = [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
        CELLS[self as usize].get_or_init(|| {
            CompiledSchema::compile_with(&self.schema(), true).expect("built-in schema compiles").with_builtin(self)
        })
    }

    /// Rules JSON Schema cannot express, run after the schema itself.
    pub(crate) fn check(self, doc: &Value, base: &str, report: &mut Report) {
        match self {
            Builtin::JitAdjustment => {}
            Builtin::TrainingProgram => program::check_cross_fields(doc, base, report),
            Builtin::CommandSchema => commands::check_single(doc, base, report),
            Builtin::LearningAtom => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_compiles_and_round_trips_its_name() {
        for b in Builtin::ALL {
            let _ = b.compiled();
            assert_eq!(Builtin::from_name(b.name()), Some(b));
        }
        assert_eq!(Builtin::from_name("nope"), None);
    }
}
