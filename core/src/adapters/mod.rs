//! Adapter datasets (seed 004): training pairs from a node's command schemas.
//!
//! [`assemble`] turns a node's command list (`IJarvisCommand.get_command_schema()` objects)
//! into the supervised pairs a per-node LoRA adapter is trained on:
//!
//! - **input**: a system prompt ([`prompt`]: instructions, the date context, the tool list
//!   with names, descriptions, parameters, rules and critical rules) and the user utterance;
//! - **output**: the tool call `{"name": <command>, "arguments": {…}}`, or
//!   `{"name": null, "arguments": {}}` for "no tool".
//!
//! Pair kinds: one `positive` per example, `negative`s from antipatterns, `confusion`
//! reminders for look-alike commands ([`negatives`]). Relative dates in expected values are
//! rendered against a [`DateContext`] ([`dates`]). At most [`MAX_PAIRS`] pairs. A
//! deterministic ≈10 % holdout ([`split`]) is never trained on. [`Dataset::dataset_hash`]
//! identifies the dataset for job reuse ([`dataset_hash`], [`canonical`]).
//!
//! Pure: no IO and no clock ("today" is an argument); the same input gives a byte-identical
//! dataset; nothing here panics on user data.

pub mod assemble;
pub mod canonical;
mod command;
pub mod date_context;
pub mod dates;
pub mod error;
pub mod negatives;
mod node_id;
pub mod pairs;
pub mod params;
pub mod prompt;
pub mod split;

pub use assemble::{assemble, dataset_hash, Counts, Dataset, MAX_PAIRS};
pub use canonical::{canonical_json, canonical_sha256};
pub use dates::{
    known_zone, render_param_value, render_relative, render_relative_dates, resolve_relative, weekday_name, CivilDate,
    DateContext, DateStyle, InstantStyle, Resolved, TimeOfDay, UnknownZone, Weekday,
};
pub use error::AssembleError;
pub use negatives::MAX_NEGATIVES_PER_COMMAND;
pub use node_id::valid_node_id;
pub use pairs::{Pair, PairKind, ToolCall};
pub use params::{node_params, DatasetParams};
pub use prompt::system_prompt;
pub use split::{holdout_key, Split, HOLDOUT_MODULUS, MIN_PAIRS_FOR_HOLDOUT};
