//! Seed 003's just-in-time learning content, without IO: which content a diagnosed failure mode
//! calls for, which atom types serve it, how many atoms a trigger asks for, and the keys that
//! deduplicate requests and atoms.
//!
//! Every spelling of a failure mode is accepted (`encoding`, `encoding_error`,
//! `encoding_failure`, any case): the origin's diagnosis, mapping and tests used three
//! different spellings, so its mapping never matched.

use std::fmt;

/// Remediation is enough from this many atoms of a concept on.
pub const MIN_REMEDIATION_ATOMS: u32 = 3;
/// A failed question fills its concept up to this many atoms.
pub const FAILED_QUESTION_TARGET: u32 = 5;
/// Proactive generation looks at this many concepts per call at most.
pub const PROACTIVE_MAX_CONCEPTS: usize = 3;
/// The quality score of just-in-time atoms.
pub const JIT_QUALITY_SCORE: f32 = 75.0;
/// Atom types chosen for one request at most.
pub const MAX_ATOM_TYPES: usize = 3;
/// `atom_count` of one request: 1 to this.
pub const MAX_ATOM_COUNT: u32 = 20;

/// A value outside an accepted set; `accepted` lists the set for the error message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    pub what: &'static str,
    pub value: String,
    pub accepted: &'static str,
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} \"{}\"; accepted: {}", self.what, self.value, self.accepted)
    }
}

/// The diagnosed cognitive failure mode of a wrong answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    Encoding,
    Retrieval,
    Discrimination,
    Integration,
    Executive,
    Fatigue,
    None,
}

impl FailMode {
    pub const ALL: [FailMode; 7] = [
        FailMode::Encoding,
        FailMode::Retrieval,
        FailMode::Discrimination,
        FailMode::Integration,
        FailMode::Executive,
        FailMode::Fatigue,
        FailMode::None,
    ];
    pub const ACCEPTED: &'static str = "encoding, retrieval, discrimination, integration, executive, fatigue, none \
(each also with the suffix _error or _failure, in any case)";

    pub fn name(self) -> &'static str {
        match self {
            FailMode::Encoding => "encoding",
            FailMode::Retrieval => "retrieval",
            FailMode::Discrimination => "discrimination",
            FailMode::Integration => "integration",
            FailMode::Executive => "executive",
            FailMode::Fatigue => "fatigue",
            FailMode::None => "none",
        }
    }

    /// `encoding`, `encoding_error`, `Encoding_Failure`, `ENCODING-ERROR`, …
    pub fn parse(text: &str) -> Result<FailMode, Unknown> {
        let t = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let stem = t.strip_suffix("_error").or_else(|| t.strip_suffix("_failure")).unwrap_or(&t);
        FailMode::ALL
            .into_iter()
            .find(|m| m.name() == stem)
            .ok_or_else(|| Unknown { what: "fail mode", value: text.to_string(), accepted: FailMode::ACCEPTED })
    }
}

/// What kind of content remediates a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContentType {
    Explanation,
    Practice,
    WorkedExample,
}

impl ContentType {
    pub const ACCEPTED: &'static str = "explanation, practice, worked_example";

    pub fn name(self) -> &'static str {
        match self {
            ContentType::Explanation => "explanation",
            ContentType::Practice => "practice",
            ContentType::WorkedExample => "worked_example",
        }
    }

    pub fn parse(text: &str) -> Result<ContentType, Unknown> {
        match text.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "explanation" => Ok(ContentType::Explanation),
            "practice" => Ok(ContentType::Practice),
            "worked_example" => Ok(ContentType::WorkedExample),
            _ => Err(Unknown { what: "content type", value: text.to_string(), accepted: ContentType::ACCEPTED }),
        }
    }

    /// The atom types that deliver this content, in the origin's order.
    fn atom_types(self) -> &'static [AtomType] {
        match self {
            ContentType::Practice => &[AtomType::Flashcard, AtomType::Mcq, AtomType::Cloze],
            ContentType::Explanation => &[AtomType::Flashcard],
            ContentType::WorkedExample => &[AtomType::Parsons, AtomType::Numeric],
        }
    }
}

/// The shapes a learning atom can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomType {
    Flashcard,
    Mcq,
    Cloze,
    TrueFalse,
    Compare,
    Parsons,
    Numeric,
}

impl AtomType {
    pub fn name(self) -> &'static str {
        match self {
            AtomType::Flashcard => "flashcard",
            AtomType::Mcq => "mcq",
            AtomType::Cloze => "cloze",
            AtomType::TrueFalse => "true_false",
            AtomType::Compare => "compare",
            AtomType::Parsons => "parsons",
            AtomType::Numeric => "numeric",
        }
    }
}

/// The content a failure mode calls for; none for fatigue (suggest a break instead).
pub fn content_types_for(mode: FailMode) -> &'static [ContentType] {
    match mode {
        FailMode::Encoding => &[ContentType::Explanation, ContentType::Practice],
        FailMode::Retrieval | FailMode::Discrimination | FailMode::Executive | FailMode::None => &[ContentType::Practice],
        FailMode::Integration => &[ContentType::WorkedExample, ContentType::Practice],
        FailMode::Fatigue => &[],
    }
}

/// Atom types a failure mode puts first.
fn prepended(mode: FailMode) -> &'static [AtomType] {
    match mode {
        FailMode::Discrimination => &[AtomType::TrueFalse, AtomType::Compare],
        FailMode::Encoding => &[AtomType::Flashcard, AtomType::Cloze],
        FailMode::Integration => &[AtomType::Parsons, AtomType::Numeric],
        _ => &[],
    }
}

/// The atom types to generate: the failure mode's own first, then those of the content types
/// (by default the mode's), without repeats, at most [`MAX_ATOM_TYPES`]. Fatigue gets none.
pub fn atom_types_for(mode: Option<FailMode>, content_types: Option<&[ContentType]>) -> Vec<AtomType> {
    let mode = mode.unwrap_or(FailMode::None);
    if mode == FailMode::Fatigue {
        return Vec::new();
    }
    let content = content_types.unwrap_or_else(|| content_types_for(mode));
    let mut out: Vec<AtomType> = Vec::new();
    for t in prepended(mode).iter().chain(content.iter().flat_map(|c| c.atom_types())) {
        if !out.contains(t) {
            out.push(*t);
        }
    }
    out.truncate(MAX_ATOM_TYPES);
    out
}

/// Why content is generated; recorded as the tag `trigger:<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    FailedQuestion,
    MissingCoverage,
    UserRequest,
    Proactive,
}

impl Trigger {
    pub const ACCEPTED: &'static str = "failed_question, missing_coverage, user_request, proactive";

    pub fn name(self) -> &'static str {
        match self {
            Trigger::FailedQuestion => "failed_question",
            Trigger::MissingCoverage => "missing_coverage",
            Trigger::UserRequest => "user_request",
            Trigger::Proactive => "proactive",
        }
    }

    pub fn parse(text: &str) -> Result<Trigger, Unknown> {
        [Trigger::FailedQuestion, Trigger::MissingCoverage, Trigger::UserRequest, Trigger::Proactive]
            .into_iter()
            .find(|t| t.name() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| Unknown { what: "trigger", value: text.to_string(), accepted: Trigger::ACCEPTED })
    }

    /// How many atoms to generate for a concept that has `existing`: a failed question fills up
    /// to [`FAILED_QUESTION_TARGET`], proactive generation up to [`MIN_REMEDIATION_ATOMS`];
    /// the others ask for `requested`.
    pub fn atoms_to_generate(self, existing: u32, requested: u32) -> u32 {
        match self {
            Trigger::FailedQuestion => FAILED_QUESTION_TARGET.saturating_sub(existing),
            Trigger::Proactive => MIN_REMEDIATION_ATOMS.saturating_sub(existing),
            Trigger::MissingCoverage | Trigger::UserRequest => requested,
        }
    }
}

/// The tags of a just-in-time atom.
pub fn jit_tags(trigger: Trigger) -> [String; 2] {
    ["jit_generated".to_string(), format!("trigger:{}", trigger.name())]
}

/// The names of content types, sorted and without repeats: the form keys and payloads use.
pub fn sorted_names(content_types: &[ContentType]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = content_types.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The dedup key of a request: `{concept_id}:{trigger}:{sorted content types}`.
pub fn cache_key(concept_id: &str, trigger: Trigger, content_types: &[ContentType]) -> String {
    format!("{concept_id}:{}:{}", trigger.name(), sorted_names(content_types).join(","))
}

/// An atom's front text as compared for duplicates: lower case, single spaces, no surrounding
/// punctuation.
pub fn normalized_front(front: &str) -> String {
    front
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c.is_ascii_punctuation())
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[AtomType]) -> Vec<&'static str> {
        v.iter().map(|a| a.name()).collect()
    }

    #[test]
    fn every_spelling_of_every_fail_mode_maps_to_the_seeds_tables() {
        let table: [(&str, &[&str], &[&str]); 7] = [
            ("encoding", &["explanation", "practice"], &["flashcard", "cloze", "mcq"]),
            ("retrieval", &["practice"], &["flashcard", "mcq", "cloze"]),
            ("discrimination", &["practice"], &["true_false", "compare", "flashcard"]),
            ("integration", &["worked_example", "practice"], &["parsons", "numeric", "flashcard"]),
            ("executive", &["practice"], &["flashcard", "mcq", "cloze"]),
            ("fatigue", &[], &[]),
            ("none", &["practice"], &["flashcard", "mcq", "cloze"]),
        ];
        for (stem, content, atoms) in table {
            for spelling in [stem.to_string(), format!("{stem}_error"), format!("{stem}_failure"), format!("{}_ERROR", stem.to_uppercase()),
                             format!(" {stem}-Failure ")] {
                let mode = FailMode::parse(&spelling).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(mode.name(), stem);
                let got: Vec<&str> = content_types_for(mode).iter().map(|c| c.name()).collect();
                assert_eq!(got, content, "{spelling}");
                assert_eq!(names(&atom_types_for(Some(mode), None)), atoms, "{spelling}");
            }
        }
        assert_eq!(names(&atom_types_for(None, None)), ["flashcard", "mcq", "cloze"]);
        let e = FailMode::parse("boredom").unwrap_err();
        assert!(e.to_string().contains("encoding, retrieval"), "{e}");
    }

    #[test]
    fn explicit_content_types_follow_the_mode_prepends() {
        let worked = [ContentType::WorkedExample];
        assert_eq!(names(&atom_types_for(Some(FailMode::Discrimination), Some(&worked))), ["true_false", "compare", "parsons"]);
        assert_eq!(names(&atom_types_for(None, Some(&[ContentType::Explanation]))), ["flashcard"]);
        assert!(atom_types_for(Some(FailMode::Fatigue), Some(&[ContentType::Practice])).is_empty());
        assert_eq!(ContentType::parse("Worked Example"), Ok(ContentType::WorkedExample));
        assert!(ContentType::parse("video").unwrap_err().to_string().contains("worked_example"));
    }

    #[test]
    fn triggers_ask_for_the_seeds_counts() {
        for (existing, want) in [(0, 5), (1, 4), (2, 3), (5, 0), (7, 0)] {
            assert_eq!(Trigger::FailedQuestion.atoms_to_generate(existing, 3), want);
        }
        assert_eq!(Trigger::Proactive.atoms_to_generate(1, 9), 2);
        assert_eq!(Trigger::Proactive.atoms_to_generate(3, 9), 0);
        assert_eq!(Trigger::UserRequest.atoms_to_generate(10, 4), 4);
        assert_eq!(jit_tags(Trigger::Proactive), ["jit_generated".to_string(), "trigger:proactive".to_string()]);
    }

    #[test]
    fn keys_do_not_depend_on_order_or_spelling() {
        let a = cache_key("c1", Trigger::FailedQuestion, &[ContentType::Practice, ContentType::Explanation]);
        let b = cache_key("c1", Trigger::FailedQuestion, &[ContentType::Explanation, ContentType::Practice, ContentType::Practice]);
        assert_eq!(a, "c1:failed_question:explanation,practice");
        assert_eq!(a, b);
        assert_eq!(normalized_front("  What is   OSPF? "), "what is ospf");
        assert_eq!(normalized_front("What is OSPF"), normalized_front("what is ospf?"));
    }
}

#[cfg(test)]
mod atom_shapes {
    use serde_json::{json, Value};

    use crate::validation::builtin::Builtin;

    fn valid(atom: Value) -> bool {
        Builtin::LearningAtom.compiled().validate(&atom, 20).is_valid()
    }

    #[test]
    fn each_atom_type_has_its_shape() {
        assert!(valid(json!({"atom_type": "flashcard", "front": "What does OSPF stand for?", "back": "Open Shortest Path First"})));
        assert!(!valid(json!({"atom_type": "flashcard", "front": "Q"})));
        let option = |t: &str, c: bool| json!({"text": t, "correct": c});
        assert!(valid(json!({"atom_type": "mcq", "front": "Pick one", "options": [option("a", true), option("b", false), option("c", false)]})));
        assert!(!valid(json!({"atom_type": "mcq", "front": "Two right", "options": [option("a", true), option("b", true), option("c", false)]})));
        assert!(!valid(json!({"atom_type": "mcq", "front": "None right", "options": [option("a", false), option("b", false), option("c", false)]})));
        assert!(!valid(json!({"atom_type": "mcq", "front": "Too few", "options": [option("a", true), option("b", false)]})));
        assert!(valid(json!({"atom_type": "cloze", "front": "A {{c1::router}} forwards packets"})));
        assert!(!valid(json!({"atom_type": "cloze", "front": "A router forwards packets"})));
        assert!(valid(json!({"atom_type": "true_false", "front": "TCP is connectionless", "answer": false})));
        assert!(!valid(json!({"atom_type": "true_false", "front": "TCP is connectionless", "answer": "no"})));
        assert!(valid(json!({"atom_type": "compare", "front": "Which is faster?", "items": ["RIP", "OSPF"], "back": "OSPF converges faster"})));
        assert!(!valid(json!({"atom_type": "compare", "front": "Which?", "items": ["RIP"], "back": "x"})));
        assert!(valid(json!({"atom_type": "parsons", "front": "Order the steps", "lines": ["enable", "configure terminal"]})));
        assert!(valid(json!({"atom_type": "numeric", "front": "Hosts in a /26?", "answer": 62, "tolerance": 0})));
        assert!(!valid(json!({"atom_type": "numeric", "front": "Hosts in a /26?", "answer": 62})));
        assert!(!valid(json!({"atom_type": "essay", "front": "Discuss"})));
    }
}
