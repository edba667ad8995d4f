//! Seed 003's content mappings in SQL: which content a failure mode calls for and which atom
//! types deliver it (`core::content` holds the tables).

use jitgen_core::content::{self, ContentType, FailMode, Trigger, Unknown, MAX_ATOM_COUNT};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::{raise, OrRaise};
use crate::guc;
use crate::privileges::{as_owner, caller, caller_sees, current_role_name, require_app_tables};

fn refuse(e: Unknown, hint: &str, function: &'static str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("unknown {} \"{}\"", e.what, e.value),
        Some(format!("Accepted: {}.", e.accepted)),
        Some(hint.to_string()),
        function,
    )
}

/// The content types a failure mode calls for (`{}` for fatigue: suggest a break instead).
/// Every spelling is accepted: `encoding`, `encoding_error`, `ENCODING_FAILURE`.
#[pg_extern(immutable, parallel_safe, strict)]
fn content_types_for(fail_mode: &str) -> Vec<String> {
    const F: &str = "content_types_for";
    let mode = FailMode::parse(fail_mode).unwrap_or_else(|e| refuse(e, "SELECT jitgen.content_types_for('encoding');", F));
    content::content_types_for(mode).iter().map(|c| c.name().to_string()).collect()
}

fn parse_content_types(list: Option<Vec<Option<String>>>, function: &'static str) -> Option<Vec<ContentType>> {
    const HINT: &str = "SELECT jitgen.atom_types_for('encoding', ARRAY['practice']);";
    list.map(|list| {
        list.into_iter()
            .map(|c| {
                let c = c.unwrap_or_else(|| {
                    raise(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "content_types must not contain NULL".into(), None, Some(HINT.into()), function)
                });
                ContentType::parse(&c).unwrap_or_else(|e| refuse(e, HINT, function))
            })
            .collect()
    })
}

/// The atom types to generate for a failure mode (NULL: none diagnosed) and content types
/// (NULL: the mode's own): the mode's favourites first, no repeats, at most three.
#[pg_extern(immutable, parallel_safe)]
fn atom_types_for(fail_mode: Option<&str>, content_types: default!(Option<Vec<Option<String>>>, "NULL")) -> Vec<String> {
    const F: &str = "atom_types_for";
    let mode = fail_mode
        .map(|m| FailMode::parse(m).unwrap_or_else(|e| refuse(e, "SELECT jitgen.atom_types_for('discrimination');", F)));
    let content = parse_content_types(content_types, F);
    content::atom_types_for(mode, content.as_deref()).iter().map(|a| a.name().to_string()).collect()
}

/// Queues a `content.generate` job for a concept and returns its id, or NULL when nothing is to
/// be generated (fatigue; a failed question or proactive request for a concept with enough
/// atoms). Requests with one key ({concept}:{trigger}:{content types}) share one job while it
/// runs and for `jitgen.content_cache_ttl` after it completes. Any role that can read the
/// concept may ask; the job is queued as the owner.
#[pg_extern(volatile, parallel_unsafe)]
fn request_content(
    concept_id: Option<pgrx::Uuid>,
    trigger: Option<&str>,
    content_types: default!(Option<Vec<Option<String>>>, "NULL"),
    atom_count: default!(Option<i32>, "3"),
    learner_id: default!(Option<&str>, "NULL"),
    fail_mode: default!(Option<&str>, "NULL"),
) -> Option<i64> {
    const F: &str = "request_content";
    const HINT: &str = "SELECT jitgen.request_content(id, 'user_request') FROM concepts WHERE name = '...';";
    let (Some(concept), Some(trigger_text)) = (concept_id, trigger) else {
        raise(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "concept_id and trigger must not be NULL".into(), None, Some(HINT.into()), F)
    };
    let trigger = Trigger::parse(trigger_text).unwrap_or_else(|e| refuse(e, HINT, F));
    let mode = fail_mode.map(|m| FailMode::parse(m).unwrap_or_else(|e| refuse(e, "Diagnose one of the accepted modes, or pass NULL.", F)));
    let asked = parse_content_types(content_types, F);
    let count = atom_count.unwrap_or(3);
    if !(1..=MAX_ATOM_COUNT as i32).contains(&count) {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("atom_count must be between 1 and {MAX_ATOM_COUNT}, got {count}"),
            None,
            Some("The default, 3, fills a concept to the remediation minimum.".into()),
            F,
        );
    }
    if mode == Some(FailMode::Fatigue) {
        return None;
    }
    require_app_tables(&["public.concepts", "public.learning_atoms"], "content.generate reads public.concepts and writes public.learning_atoms.", F);
    let visible = caller_sees(
        "SELECT EXISTS (SELECT 1 FROM public.concepts c WHERE c.id OPERATOR(pg_catalog.=) $1)",
        &[concept.into()],
        F,
    );
    if !visible {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("concept {concept} does not exist"),
            Some(format!("No concepts row {concept} is visible to role {}.", current_role_name())),
            Some("SELECT * FROM jitgen.find_gaps(); lists concepts that need content.".into()),
            F,
        );
    }
    let content_list: Vec<ContentType> = asked.unwrap_or_else(|| content::content_types_for(mode.unwrap_or(FailMode::None)).to_vec());
    let atom_types: Vec<String> = content::atom_types_for(mode, Some(&content_list)).iter().map(|a| a.name().to_string()).collect();
    let names: Vec<String> = content::sorted_names(&content_list).into_iter().map(str::to_string).collect();
    let key = content::cache_key(&concept.to_string(), trigger, &content_list);
    let who = caller();
    let ttl = guc::content_cache_ttl_seconds();
    let trigger_name = trigger.name();
    let mode_name = mode.map(FailMode::name);
    as_owner(F, || {
        // As the owner: the caller need not read learning_atoms to ask for more of them.
        let existing = Spi::get_one_with_args::<i64>(
            "SELECT pg_catalog.count(*) FROM public.learning_atoms a WHERE a.concept_id OPERATOR(pg_catalog.=) $1",
            &[concept.into()],
        )
        .or_raise("counting the concept's atoms", F)
        .unwrap_or(0);
        let wanted = trigger.atoms_to_generate(u32::try_from(existing).unwrap_or(u32::MAX), count as u32);
        if wanted == 0 {
            return None;
        }
        Spi::get_one_with_args::<i64>(
            "SELECT jitgen._request_content($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                concept.into(),
                trigger_name.into(),
                key.as_str().into(),
                names.into(),
                atom_types.into(),
                (wanted as i32).into(),
                learner_id.into(),
                mode_name.into(),
                who.into(),
                ttl.into(),
            ],
        )
        .or_raise("enqueueing content.generate", F)
    })
}
