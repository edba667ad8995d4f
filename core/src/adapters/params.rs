//! LoRA training parameters that belong to a dataset's identity.
//!
//! They are part of `dataset_hash`: the same pairs trained with another rank or for another
//! number of epochs give another adapter, so a completed job may only be reused when these
//! match too.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::dates::InstantStyle;
use super::error::AssembleError;

pub const DEFAULT_R: u32 = 16;
pub const DEFAULT_ALPHA: u32 = 32;
pub const DEFAULT_DROPOUT: f64 = 0.05;
pub const DEFAULT_EPOCHS: u32 = 3;
pub const DEFAULT_MAX_SEQ_LEN: u32 = 512;
pub const DEFAULT_TARGET_MODULES: [&str; 4] = ["q_proj", "k_proj", "v_proj", "o_proj"];

/// Every field is optional in JSON and takes its default when absent. PEFT spellings
/// (`rank`, `lora_alpha`, `lora_dropout`) are accepted as aliases; unknown fields are refused,
/// because a misspelt knob would otherwise be silently ignored *and* left out of the hash.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetParams {
    /// LoRA rank.
    #[serde(alias = "rank")]
    pub r: u32,
    /// LoRA scaling numerator (`lora_alpha`). An integer, as PEFT configs write it.
    #[serde(alias = "lora_alpha")]
    pub alpha: u32,
    /// LoRA dropout probability, 0 ≤ p < 1.
    #[serde(alias = "lora_dropout")]
    pub dropout: f64,
    pub epochs: u32,
    /// Token budget of one packed sequence.
    pub max_seq_len: u32,
    /// Linear layers that get adapters. A set: [`DatasetParams::normalized`] sorts and
    /// de-duplicates it so that `["q_proj","v_proj"]` and `["v_proj","q_proj"]` hash alike.
    pub target_modules: Vec<String>,
}

impl Default for DatasetParams {
    fn default() -> Self {
        DatasetParams {
            r: DEFAULT_R,
            alpha: DEFAULT_ALPHA,
            dropout: DEFAULT_DROPOUT,
            epochs: DEFAULT_EPOCHS,
            max_seq_len: DEFAULT_MAX_SEQ_LEN,
            target_modules: DEFAULT_TARGET_MODULES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Ceilings that catch unit mistakes (rank 16000, 1e6 epochs) before a GPU job is queued.
const MAX_R: u32 = 1024;
const MAX_ALPHA: u32 = 65_536;
const MAX_EPOCHS: u32 = 100;
const MAX_SEQ_LEN: u32 = 1 << 20;

/// A node's `params` (`jitgen.nodes.params`): the LoRA parameters plus `date_style` (`utc`, the
/// default, or `offset`: how datetime parameters are written). The style is not a LoRA
/// parameter: it shapes the rendered pairs (and so the hash) through the date context.
pub fn node_params(value: &Value) -> Result<(DatasetParams, InstantStyle), AssembleError> {
    let Some(style) = value.get("date_style") else {
        return Ok((DatasetParams::from_json(value)?, InstantStyle::default()));
    };
    let style = style.as_str().and_then(InstantStyle::parse).ok_or_else(|| AssembleError::InvalidArgument {
        field: "params.date_style".into(),
        message: format!("date_style must be \"utc\" or \"offset\", got {style}"),
    })?;
    let mut rest = value.clone();
    if let Some(o) = rest.as_object_mut() {
        o.remove("date_style");
    }
    Ok((DatasetParams::from_json(&rest)?, style))
}

impl DatasetParams {
    /// From a JSON object (absent fields take defaults); `null` means all defaults.
    pub fn from_json(value: &Value) -> Result<DatasetParams, AssembleError> {
        if value.is_null() {
            return Ok(DatasetParams::default());
        }
        // serde would also read a struct from an array (by position); only objects are meant.
        if !value.is_object() {
            return Err(AssembleError::InvalidArgument {
                field: "params".into(),
                message: "params must be a JSON object".into(),
            });
        }
        let params: DatasetParams = serde_json::from_value(value.clone())
            .map_err(|e| AssembleError::InvalidArgument { field: "params".into(), message: e.to_string() })?;
        params.check()?;
        Ok(params)
    }

    /// Checks ranges; the error names the field.
    pub fn check(&self) -> Result<(), AssembleError> {
        let bad = |field: &str, message: String| {
            Err(AssembleError::InvalidArgument { field: format!("params.{field}"), message })
        };
        if !(1..=MAX_R).contains(&self.r) {
            return bad("r", format!("LoRA rank must be within 1..={MAX_R}, got {}", self.r));
        }
        if !(1..=MAX_ALPHA).contains(&self.alpha) {
            return bad("alpha", format!("lora_alpha must be within 1..={MAX_ALPHA}, got {}", self.alpha));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return bad("dropout", format!("dropout must be a number with 0 <= p < 1, got {}", self.dropout));
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return bad("epochs", format!("epochs must be within 1..={MAX_EPOCHS}, got {}", self.epochs));
        }
        if !(1..=MAX_SEQ_LEN).contains(&self.max_seq_len) {
            return bad(
                "max_seq_len",
                format!("max_seq_len must be within 1..={MAX_SEQ_LEN}, got {}", self.max_seq_len),
            );
        }
        if self.target_modules.is_empty() {
            return bad("target_modules", "at least one target module is required".into());
        }
        if let Some(i) = self.target_modules.iter().position(|m| m.trim().is_empty()) {
            return bad("target_modules", format!("target_modules[{i}] is empty"));
        }
        Ok(())
    }

    /// The form stored and hashed: target modules sorted and de-duplicated.
    pub fn normalized(&self) -> DatasetParams {
        let mut p = self.clone();
        p.target_modules.sort();
        p.target_modules.dedup();
        p
    }

    /// Built by hand rather than through serde so that hashing has no failure path.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "r": self.r,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "epochs": self.epochs,
            "max_seq_len": self.max_seq_len,
            "target_modules": self.target_modules,
        })
    }
}
