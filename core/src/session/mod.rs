//! Training-session JIT (seed 000): formula, MRV/MEV, adjustment, hard constraints, strategies.
//!
//! A **formula** generator computes a session from the lifter's state ([`formula_session`]);
//! an LLM proposes a [`JitAdjustment`], which is applied to the formula base
//! ([`apply_adjustment`]); the [hard constraints](constraints) run after both; the
//! [strategy](strategy) registry picks the path and labels the result. The network call
//! itself lives outside `core`: [`session_from_llm_reply`] takes its outcome (the reply,
//! or why there is none) and returns the session, falling back to the formula on any
//! failure.
//!
//! Pure: no IO, no clock, no randomness; every function is deterministic in its inputs.
//! Bad input is an [`InputError`]; nothing here panics on user data. [`sql`] has the
//! JSON-in/JSON-out form of each SQL function.

pub mod adjust;
pub mod autoreg;
pub mod auxiliary;
pub mod catalogue;
pub mod constraints;
pub mod context;
pub mod error;
pub mod formula;
pub mod input;
pub mod output;
pub mod prompt;
pub mod rounding;
pub mod sql;
pub mod strategy;
pub mod types;
pub mod volume;
pub mod warmup;

pub use adjust::{apply_adjustment, AuxAction, AuxOverride, Confidence, JitAdjustment};
pub use constraints::enforce_hard_constraints;
pub use context::build_jit_context;
pub use error::{InputError, InputErrorKind};
pub use formula::{base_main_sets, formula_session, FormulaConfig};
pub use input::JitInput;
pub use output::{AuxiliaryWork, LlmRestSuggestion, PlannedSet, RestSeconds, SessionOutput, WarmupSet};
pub use strategy::{
    divergence, parse_llm_content, resolve_strategy, session_from_llm_reply, Divergence, FallbackCode,
    FallbackReason, JitStrategy, Strategy,
};
pub use types::{IntensityType, Lift, Muscle, Sex, TrainingAge};
pub use volume::{mrv_mev_config, rpe_set_multiplier, volume_status, VolumeStatus};
