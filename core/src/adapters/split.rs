//! The deterministic holdout split.
//!
//! Rule, recomputable by anyone from the pairs alone:
//! 1. key(pair) = first 8 bytes, big-endian, of sha256 of the pair's user utterance after
//!    lower-casing and collapsing whitespace ([`holdout_key`]);
//! 2. a pair is held out when key % 10 == 0 (≈ 10 %);
//! 3. when that selects nothing and there are at least [`MIN_PAIRS_FOR_HOLDOUT`] pairs, the
//!    pairs with the smallest key are held out instead, so a quality gate always has data.
//!
//! The key is the utterance rather than the whole pair on purpose: every pair with the same
//! utterance lands on the same side, so a confusion reminder (a copy of a positive) or two
//! commands sharing an example can never put a trained-on utterance into the holdout, and an
//! example keeps its side when *other* commands change (the system prompt is not in the key).
//! Held-out pairs are never trained on. In the degenerate case where every pair has the same
//! utterance, rule 3 holds out everything and the training split is empty.

use serde::{Deserialize, Serialize};

use super::canonical::sha256_prefix_u64;

pub const HOLDOUT_MODULUS: u64 = 10;
/// From this many pairs on, the holdout is never empty.
pub const MIN_PAIRS_FOR_HOLDOUT: usize = 10;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Holdout,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Holdout => "holdout",
        }
    }
}

/// The split key of an utterance (rule 1).
pub fn holdout_key(user: &str) -> u64 {
    let normalized = user.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    sha256_prefix_u64(&normalized)
}

/// The side of each utterance, in order.
pub(crate) fn assign(users: &[&str]) -> Vec<Split> {
    let keys: Vec<u64> = users.iter().map(|u| holdout_key(u)).collect();
    let mut sides: Vec<Split> =
        keys.iter().map(|k| if k % HOLDOUT_MODULUS == 0 { Split::Holdout } else { Split::Train }).collect();
    if users.len() >= MIN_PAIRS_FOR_HOLDOUT && !sides.contains(&Split::Holdout) {
        if let Some(&min) = keys.iter().min() {
            for (side, k) in sides.iter_mut().zip(&keys) {
                if *k == min {
                    *side = Split::Holdout;
                }
            }
        }
    }
    sides
}
