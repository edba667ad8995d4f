//! `content.generate`: seed 003's just-in-time atoms. Payload `{"concept_id", "trigger",
//! "content_types", "atom_types", "count", "learner_id"?, "fail_mode"?}` (written by
//! `jitgen.request_content`). Reads the concept's source text, asks the LLM for `count` atoms
//! of the chosen types, validates each against the `learning_atom` schema, skips duplicates of
//! the concept's atoms, and inserts the rest with the just-in-time tags, quality 75 and their
//! provenance in the transaction that completes the job. One bad atom never blocks the others:
//! it is listed in the result's `errors`. An unreachable LLM or an unusable reply is retried per
//! the job's policy; nothing is saved until an attempt succeeds.

use std::collections::BTreeSet;

use jitgen_core::content::{jit_tags, normalized_front, Trigger, JIT_QUALITY_SCORE};
use jitgen_core::llm::{self as protocol, ChatRequest, Outcome, ResponseFormat};
use jitgen_core::validation::builtin::Builtin;
use serde_json::{json, Value};
use tokio_postgres::Client;

use super::handlers::{BoxFuture, Done, Effect, Handler, JobContext, JobError};
use crate::llm::{self, LlmClient};

const SYSTEM: &str = "You write learning atoms (flashcards and short quizzes) for spaced-repetition study, \
strictly from the source text you are given. You answer with one JSON object and nothing else.";

/// How each atom type is written, for the prompt.
const SHAPES: &str = r#"{"atom_type":"flashcard","front":"question","back":"answer"}
{"atom_type":"mcq","front":"stem","options":[{"text":"...","correct":true},{"text":"...","correct":false},{"text":"...","correct":false}]}  (3-8 options, exactly one correct)
{"atom_type":"cloze","front":"A sentence with the hidden part as {{c1::hidden part}}"}
{"atom_type":"true_false","front":"statement","answer":true}
{"atom_type":"compare","front":"question","items":["first","second"],"back":"answer"}
{"atom_type":"parsons","front":"task","lines":["first step","second step","..."]}  (lines in the correct order)
{"atom_type":"numeric","front":"question","answer":42,"tolerance":0}"#;

pub struct ContentGenerate {
    pub llm: LlmClient,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// The request body for `count` atoms of `types` about a concept.
pub(crate) fn request_body(model: &str, concept: &str, source: &str, types: &[String], count: u64) -> Value {
    let user = format!(
        "Concept: {concept}\n\nSource text:\n\"\"\"\n{source}\n\"\"\"\n\n\
Write {count} atoms about this concept, using these atom types in turn: {}. Each atom's shape:\n{SHAPES}\n\n\
Reply with {{\"atoms\": [ ... ]}}. Use only facts from the source text; never repeat a question.",
        types.join(", ")
    );
    protocol::request_body(&ChatRequest { model, system: SYSTEM, user: &user, format: ResponseFormat::JsonObject, temperature: Some(0.4) })
}

/// Splits the reply's atoms into those to save and the per-atom errors.
fn sort_atoms(reply: &Value, wanted: &[String], count: usize, existing: &mut BTreeSet<String>) -> (Vec<Value>, Vec<Value>, usize) {
    let mut keep = Vec::new();
    let mut errors = Vec::new();
    let mut duplicates = 0;
    let Some(atoms) = reply.get("atoms").and_then(Value::as_array) else {
        errors.push(json!({"index": null, "error": "the reply has no \"atoms\" array"}));
        return (keep, errors, duplicates);
    };
    for (i, atom) in atoms.iter().enumerate() {
        if keep.len() == count {
            break;
        }
        let report = Builtin::LearningAtom.compiled().validate(atom, 20);
        if !report.is_valid() {
            errors.push(json!({"index": i, "atom_type": atom.get("atom_type"), "error": "invalid_atom", "details": report.to_json()["details"]}));
            continue;
        }
        let kind = atom["atom_type"].as_str().unwrap_or_default();
        if !wanted.iter().any(|w| w == kind) {
            errors.push(json!({"index": i, "atom_type": kind, "error": "atom_type_not_requested", "requested": wanted}));
            continue;
        }
        if !existing.insert(normalized_front(atom["front"].as_str().unwrap_or_default())) {
            duplicates += 1;
            continue;
        }
        keep.push(atom.clone());
    }
    (keep, errors, duplicates)
}

impl Handler for ContentGenerate {
    fn work<'a>(&'a self, ctx: &'a JobContext, db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let p = &ctx.payload;
            let (Some(concept_id), Some(trigger)) = (p.get("concept_id").and_then(Value::as_str), p.get("trigger").and_then(Value::as_str)) else {
                return Err(JobError::permanent("invalid_payload", "payload needs \"concept_id\" and \"trigger\""));
            };
            let trigger = Trigger::parse(trigger).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
            let count = p.get("count").and_then(Value::as_u64).unwrap_or(3).clamp(1, 20);
            let types = strings(&p["atom_types"]);
            if types.is_empty() {
                return Err(JobError::permanent("invalid_payload", "payload needs \"atom_types\""));
            }
            let Some(row) = db
                .query_opt("SELECT name, coalesce(source_text, '') FROM concepts WHERE id = $1::text::uuid", &[&concept_id])
                .await
                .map_err(JobError::database)?
            else {
                return Err(JobError::permanent("not_found", format!("no concepts row with id {concept_id}")));
            };
            let (name, source): (String, String) = (row.get(0), row.get(1));
            let base = json!({"concept_id": concept_id, "trigger": trigger.name(), "requested": count, "atom_types": types});
            if source.trim().is_empty() {
                let mut result = base;
                result["saved"] = json!(0);
                result["errors"] = json!([]);
                result["warnings"] = json!(["the concept has no source_text: nothing was generated"]);
                return Ok(Done { result, effects: Vec::new() });
            }
            let mut existing: BTreeSet<String> = db
                .query("SELECT front FROM learning_atoms WHERE concept_id = $1::text::uuid", &[&concept_id])
                .await
                .map_err(JobError::database)?
                .iter()
                .map(|r| normalized_front(r.get::<_, &str>(0)))
                .collect();
            let body = request_body(&self.llm.model, &name, &source, &types, count);
            let call = self.llm.chat(&body).await;
            let outcome = call.reply.as_ref().map_or_else(|f| f.outcome(), |_| Outcome::Ok);
            let error = call.reply.as_ref().err().map(|f| f.to_json());
            if call.attempts > 0 {
                llm::record(db, "content.generate", &self.llm.model, &call, outcome, error.clone()).await;
            }
            let reply = call.reply.map_err(|f| match f {
                // Retrying cannot configure a key.
                jitgen_core::llm::Failure::NotConfigured { .. } => JobError::Permanent(json!({"kind": "llm", "failure": f.to_json()})),
                _ => JobError::Transient(json!({"kind": "llm", "failure": f.to_json()})),
            })?;
            let (atoms, errors, duplicates) = sort_atoms(&reply.content, &types, count as usize, &mut existing);
            let model = reply.model.unwrap_or_else(|| self.llm.model.clone());
            let mut result = base;
            result["saved"] = json!(atoms.len());
            result["skipped_duplicates"] = json!(duplicates);
            result["errors"] = json!(errors);
            result["model"] = json!(model);
            let provenance = json!({"model": model, "job_id": ctx.id, "trigger": trigger.name(),
                                    "learner_id": p.get("learner_id"), "fail_mode": p.get("fail_mode")});
            let effects = if atoms.is_empty() {
                Vec::new()
            } else {
                vec![Effect {
                    sql: "INSERT INTO learning_atoms (concept_id, atom_type, front, back, knowledge_type, tags, is_hydrated,
                                                      fidelity_type, quality_score, content)
                          SELECT $1::text::uuid, a->>'atom_type', a->>'front', a->>'back', a->>'knowledge_type', $2::text[],
                                 true, 'jit_generated', $3::float8::real, a || jsonb_build_object('provenance', $4::jsonb)
                          FROM jsonb_array_elements($5::jsonb) AS a",
                    params: vec![
                        Box::new(concept_id.to_string()),
                        Box::new(jit_tags(trigger).to_vec()),
                        Box::new(f64::from(JIT_QUALITY_SCORE)),
                        Box::new(provenance),
                        Box::new(Value::Array(atoms)),
                    ],
                }]
            };
            Ok(Done { result, effects })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_atoms_are_listed_and_the_rest_kept() {
        let reply = json!({"atoms": [
            {"atom_type": "flashcard", "front": "What is OSPF?", "back": "A link-state protocol"},
            {"atom_type": "flashcard", "front": "Missing back"},
            {"atom_type": "mcq", "front": "Pick", "options": [{"text": "a", "correct": true}, {"text": "b", "correct": false}, {"text": "c", "correct": false}]},
            {"atom_type": "parsons", "front": "Order", "lines": ["a", "b"]},
            {"atom_type": "flashcard", "front": "what is ospf", "back": "again"},
            {"atom_type": "cloze", "front": "The {{c1::root bridge}} is elected"}
        ]});
        let wanted = vec!["flashcard".to_string(), "mcq".to_string(), "cloze".to_string()];
        let mut existing = BTreeSet::from([normalized_front("The {{c1::root bridge}} is elected.")]);
        let (keep, errors, duplicates) = sort_atoms(&reply, &wanted, 5, &mut existing);
        assert_eq!(keep.len(), 2);
        assert_eq!(duplicates, 2, "a repeat within the reply and one of the concept's atoms");
        let kinds: Vec<&str> = errors.iter().map(|e| e["error"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["invalid_atom", "atom_type_not_requested"]);
        assert_eq!(errors[0]["index"], json!(1));
        let (keep, _, _) = sort_atoms(&reply, &wanted, 1, &mut BTreeSet::new());
        assert_eq!(keep.len(), 1, "never more than asked");
        assert_eq!(sort_atoms(&json!({"x": 1}), &wanted, 3, &mut BTreeSet::new()).1.len(), 1);
    }
}
