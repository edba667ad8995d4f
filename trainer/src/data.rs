//! Training examples, the chat format and tokenization.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokenizers::Tokenizer;

use crate::TrainError;

/// One line of `pairs.jsonl`, as `jitgen_core::adapters::Dataset::to_jsonl` writes it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Example {
    /// `train` or `holdout`.
    pub split: String,
    pub system: String,
    pub user: String,
    /// The exact output text to learn: `{"name":…,"arguments":{…}}`.
    pub target: String,
    /// The tool the target calls; `None` for "no tool".
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// Required parameters of `tool`; empty for negatives (not checked by the gate).
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub command: String,
}

impl Example {
    pub fn is_holdout(&self) -> bool {
        self.split == "holdout"
    }
}

pub fn load_jsonl(path: &Path) -> Result<Vec<Example>, TrainError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrainError::InvalidData(format!("cannot read {}: {e}", path.display())))?;
    parse_jsonl(&text)
}

pub fn parse_jsonl(text: &str) -> Result<Vec<Example>, TrainError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: Example =
            serde_json::from_str(line).map_err(|e| TrainError::InvalidData(format!("line {}: {e}", i + 1)))?;
        if e.split != "train" && e.split != "holdout" {
            return Err(TrainError::InvalidData(format!("line {}: split must be train or holdout, got {:?}", i + 1, e.split)));
        }
        out.push(e);
    }
    Ok(out)
}

/// How turns are marked, picked from the tokenizer's special tokens.
#[derive(Clone, Debug)]
pub enum ChatFormat {
    /// `<|im_start|>role\n…<|im_end|>\n` (Qwen).
    ChatMl { start: u32, end: u32 },
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3 { start: u32, end_header: u32, eot: u32 },
    /// `### System:\n…\n### User:\n…\n### Assistant:\n` then the target and `eos`.
    Plain { eos: u32 },
}

pub struct Encoder {
    pub tokenizer: Tokenizer,
    pub format: ChatFormat,
}

/// An example as token ids: `system` is the shared prefix (identical for every example with
/// the same system prompt), `prompt` the user turn and assistant header, `target` the answer
/// plus the end-of-turn token.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub system: Vec<i64>,
    pub prompt: Vec<i64>,
    pub target: Vec<i64>,
}

impl Encoded {
    pub fn len(&self) -> usize {
        self.system.len() + self.prompt.len() + self.target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Encoder {
    pub fn load(model_dir: &Path, eos_ids: &[i64]) -> Result<Encoder, TrainError> {
        let path = model_dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path)
            .map_err(|e| TrainError::InvalidModel(format!("cannot load {}: {e}", path.display())))?;
        let id = |t: &str| tokenizer.token_to_id(t);
        let format = if let (Some(start), Some(end)) = (id("<|im_start|>"), id("<|im_end|>")) {
            ChatFormat::ChatMl { start, end }
        } else if let (Some(start), Some(end_header), Some(eot)) =
            (id("<|start_header_id|>"), id("<|end_header_id|>"), id("<|eot_id|>"))
        {
            ChatFormat::Llama3 { start, end_header, eot }
        } else {
            let eos = eos_ids
                .first()
                .map(|&e| e as u32)
                .or_else(|| id("</s>"))
                .or_else(|| id("<|endoftext|>"))
                .ok_or_else(|| TrainError::InvalidModel("the tokenizer has no chat tokens and no end-of-sequence token".into()))?;
            ChatFormat::Plain { eos }
        };
        Ok(Encoder { tokenizer, format })
    }

    /// `s` as token ids, without special tokens.
    pub fn tokens(&self, s: &str) -> Result<Vec<i64>, TrainError> {
        self.text(s)
    }

    fn text(&self, s: &str) -> Result<Vec<i64>, TrainError> {
        let enc = self.tokenizer.encode(s, false).map_err(|e| TrainError::InvalidData(format!("tokenizing: {e}")))?;
        Ok(enc.get_ids().iter().map(|&i| i as i64).collect())
    }

    /// The token that ends the assistant's turn.
    pub fn end_token(&self) -> i64 {
        match self.format {
            ChatFormat::ChatMl { end, .. } => end as i64,
            ChatFormat::Llama3 { eot, .. } => eot as i64,
            ChatFormat::Plain { eos } => eos as i64,
        }
    }

    /// One whole turn (`role` and `content` with the format's markers).
    pub fn turn(&self, role: &str, content: &str) -> Result<Vec<i64>, TrainError> {
        Ok(match self.format {
            ChatFormat::ChatMl { start, end } => {
                let mut v = vec![start as i64];
                v.extend(self.text(&format!("{role}\n{content}"))?);
                v.push(end as i64);
                v.extend(self.text("\n")?);
                v
            }
            ChatFormat::Llama3 { start, end_header, eot } => {
                let mut v = vec![start as i64];
                v.extend(self.text(role)?);
                v.push(end_header as i64);
                v.extend(self.text(&format!("\n\n{content}"))?);
                v.push(eot as i64);
                v
            }
            ChatFormat::Plain { .. } => self.text(&format!("### {role}:\n{content}\n"))?,
        })
    }

    /// What opens the assistant's turn: generation starts after it.
    pub fn assistant_header(&self) -> Result<Vec<i64>, TrainError> {
        Ok(match self.format {
            ChatFormat::ChatMl { start, .. } => {
                let mut v = vec![start as i64];
                v.extend(self.text("assistant\n")?);
                v
            }
            ChatFormat::Llama3 { start, end_header, .. } => {
                let mut v = vec![start as i64];
                v.extend(self.text("assistant")?);
                v.push(end_header as i64);
                v.extend(self.text("\n\n")?);
                v
            }
            ChatFormat::Plain { .. } => self.text("### assistant:\n")?,
        })
    }

    /// Turns are tokenized one by one, so the system turn is a token-exact prefix shared by
    /// every example (the evaluator computes its keys and values once).
    pub fn encode(&self, e: &Example) -> Result<Encoded, TrainError> {
        let system = self.turn("system", &e.system)?;
        let mut prompt = self.turn("user", &e.user)?;
        prompt.extend(self.assistant_header()?);
        let mut target = self.text(&e.target)?;
        target.push(self.end_token());
        Ok(Encoded { system, prompt, target })
    }

    pub fn decode(&self, ids: &[i64]) -> String {
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        self.tokenizer.decode(&ids, true).unwrap_or_default()
    }
}
