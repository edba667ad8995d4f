//! SQL surface of schema validation: registry, per-backend compiled-validator cache and the
//! validate / is_valid / assert_valid / validate_commands functions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use jitgen_core::validation::builtin::Builtin;
use jitgen_core::validation::commands::validate_commands as core_validate_commands;
use jitgen_core::validation::{CompiledSchema, Report};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use crate::error::{required, JitgenError, OrRaise};
use crate::guc;
use crate::jsonb::{parse_document, JsonbArg};

// ---------------------------------------------------------------------------------------------
// Per-backend cache of compiled user schemas.
//
// A statement trigger on jitgen.schemas sends a relcache invalidation for the table; every
// backend's callback bumps GENERATION and the next lookup starts from an empty cache. This
// costs nothing per call (no SPI round trip to check versions) and follows commit/abort
// exactly as Postgres' own caches do.

struct Cached {
    compiled: CompiledSchema,
}

struct Cache {
    generation: u64,
    entries: HashMap<String, Rc<Cached>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache { generation: 0, entries: HashMap::new() });
}

static GENERATION: AtomicU64 = AtomicU64::new(1);
static SCHEMAS_RELID: AtomicU32 = AtomicU32::new(0);

unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let ours = SCHEMAS_RELID.load(Ordering::Relaxed);
    if relid == pg_sys::InvalidOid || relid.to_u32() == ours {
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn init() {
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
}

fn cache_get(name: &str) -> Option<Rc<Cached>> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let now = GENERATION.load(Ordering::Relaxed);
        if c.generation != now {
            c.entries.clear();
            c.generation = now;
        }
        c.entries.get(name).cloned()
    })
}

fn cache_put(name: &str, entry: Rc<Cached>, generation: u64) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        // An invalidation that arrived while we were loading makes what we loaded suspect.
        if c.generation == generation && GENERATION.load(Ordering::Relaxed) == generation {
            c.entries.insert(name.to_string(), entry);
        }
    })
}

/// The validator behind a schema name: built-ins come from code, the rest from jitgen.schemas.
enum Resolved {
    Builtin(&'static CompiledSchema),
    User(Rc<Cached>),
}

impl Resolved {
    fn schema(&self) -> &CompiledSchema {
        match self {
            Resolved::Builtin(c) => c,
            Resolved::User(c) => &c.compiled,
        }
    }
}

fn resolve(name: &str, function: &'static str) -> Resolved {
    if let Some(b) = Builtin::from_name(name) {
        return Resolved::Builtin(b.compiled());
    }
    if let Some(hit) = cache_get(name) {
        return Resolved::User(hit);
    }
    let generation = GENERATION.load(Ordering::Relaxed);
    let row = Spi::connect(|client| {
        let rows = client.select(
            "SELECT version, schema::text, 'jitgen.schemas'::regclass::oid, assert_formats \
             FROM jitgen.schemas WHERE name = $1 ORDER BY version DESC LIMIT 1",
            Some(1),
            &[name.into()],
        )?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(r) => Ok(Some((
                r.get::<i32>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<pg_sys::Oid>(3)?.map(|o| o.to_u32()).unwrap_or_default(),
                r.get::<bool>(4)?.unwrap_or(false),
            ))),
        }
    })
    .or_raise("looking up a schema", function);
    let Some((_version, text, relid, assert_formats)) = row else {
        JitgenError::UnknownSchema { name: name.to_string(), known: known_schema_names(function) }.raise(function)
    };
    SCHEMAS_RELID.store(relid, Ordering::Relaxed);
    let value = parse_document(&text).unwrap_or_else(|e| e.raise(function));
    let compiled = CompiledSchema::compile_with(&value, assert_formats)
        .unwrap_or_else(|error| JitgenError::InvalidJsonSchema { name: name.to_string(), error }.raise(function));
    let entry = Rc::new(Cached { compiled });
    cache_put(name, entry.clone(), generation);
    Resolved::User(entry)
}

fn known_schema_names(function: &'static str) -> Vec<String> {
    Spi::connect(|client| {
        client
            .select("SELECT DISTINCT name FROM jitgen.schemas ORDER BY name LIMIT 50", None, &[])?
            .map(|r| r.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
    })
    .or_raise("listing schemas", function)
}

const NULL_DOC_HINT: &str =
    "Pass a jsonb document; to allow NULL columns write CHECK (doc IS NULL OR jitgen.is_valid(...)).";

fn document(doc: Option<JsonbArg>, function: &'static str) -> Value {
    required(doc, function, "doc", NULL_DOC_HINT)
        .to_value()
        .unwrap_or_else(|e| e.raise(function))
}

fn schema_name<'a>(name: Option<&'a str>, function: &'static str) -> &'a str {
    required(name, function, "schema_name", "Pass a registered schema name; SELECT DISTINCT name FROM jitgen.schemas lists them.")
}

fn report_json(report: &Report) -> JsonB {
    JsonB(report.to_json())
}

// ---------------------------------------------------------------------------------------------
// SQL functions

/// Registers a JSON Schema under `name` and returns its version (1 for a new name). Registering
/// the same schema again returns the current version without adding one. `format` follows the
/// schema's draft (an annotation in 2020-12) unless `assert_formats` is true.
#[pg_extern(volatile, parallel_unsafe)]
fn register_schema(name: Option<&str>, schema: Option<JsonbArg>, assert_formats: default!(Option<bool>, "false")) -> i32 {
    let assert_formats = assert_formats.unwrap_or(false);
    const F: &str = "register_schema";
    let name = required(name, F, "name", "Pass the schema's name, e.g. 'workout_plan'.");
    let schema = required(schema, F, "schema", "Pass the JSON Schema as jsonb.");
    if !valid_schema_name(name) {
        JitgenError::InvalidSchemaName { name: name.to_string() }.raise(F);
    }
    if Builtin::from_name(name).is_some() {
        JitgenError::BuiltinSchemaReadOnly { name: name.to_string() }.raise(F);
    }
    let text = schema.to_text().unwrap_or_else(|e| e.raise(F));
    let value = parse_document(&text).unwrap_or_else(|e| e.raise(F));
    if let Err(error) = CompiledSchema::compile(&value) {
        JitgenError::InvalidJsonSchema { name: name.to_string(), error }.raise(F);
    }
    Spi::connect_mut(|client| {
        // Serialise registrations of one name so versions are dense and never collide.
        client.update(
            "SELECT pg_advisory_xact_lock(hashtextextended('jitgen.schemas:' || $1, 0))",
            None,
            &[name.into()],
        )?;
        let latest = client
            .update(
                "SELECT version, schema = $2::jsonb AND assert_formats = $3 FROM jitgen.schemas WHERE name = $1 ORDER BY version DESC LIMIT 1",
                Some(1),
                &[name.into(), text.as_str().into(), assert_formats.into()],
            )?
            .into_iter()
            .next()
            .map(|r| Ok::<_, pgrx::spi::Error>((r.get::<i32>(1)?.unwrap_or(0), r.get::<bool>(2)?.unwrap_or(false))))
            .transpose()?;
        if let Some((version, true)) = latest {
            return Ok(version);
        }
        let next = latest.map_or(1, |(v, _)| v + 1);
        client.update(
            "INSERT INTO jitgen.schemas (name, version, schema, assert_formats) VALUES ($1, $2, $3::jsonb, $4)",
            None,
            &[name.into(), next.into(), text.as_str().into(), assert_formats.into()],
        )?;
        Ok(next)
    })
    .or_raise("registering a schema", F)
}

fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

/// `{"valid":true,"details":[]}` or `{"valid":false,"error":"invalid_schema","details":[…]}`.
#[pg_extern(stable, parallel_safe)]
fn validate(schema_name: Option<&str>, doc: Option<JsonbArg>) -> JsonB {
    const F: &str = "validate";
    let name = self::schema_name(schema_name, F);
    let resolved = resolve(name, F);
    let doc = document(doc, F);
    report_json(&resolved.schema().validate(&doc, guc::max_validation_details()))
}

/// True when `doc` satisfies the schema; meant for CHECK constraints.
#[pg_extern(stable, parallel_safe)]
fn is_valid(schema_name: Option<&str>, doc: Option<JsonbArg>) -> bool {
    const F: &str = "is_valid";
    let name = self::schema_name(schema_name, F);
    let resolved = resolve(name, F);
    let doc = required(doc, F, "doc", NULL_DOC_HINT);
    doc.with_container(|container| resolved.schema().is_valid_jsonb(container)).unwrap_or_else(|e| e.raise(F))
}

/// Returns `doc` unchanged when valid; otherwise raises 22023 with the error JSON in DETAIL.
#[pg_extern(stable, parallel_safe)]
fn assert_valid(schema_name: Option<&str>, doc: Option<JsonbArg>) -> JsonB {
    const F: &str = "assert_valid";
    let name = self::schema_name(schema_name, F);
    let resolved = resolve(name, F);
    let doc = document(doc, F);
    let report = resolved.schema().validate(&doc, guc::max_validation_details());
    if !report.is_valid() {
        JitgenError::DocumentInvalid {
            subject: format!("document for schema \"{name}\""),
            validate_call: format!("jitgen.validate('{name}', doc)"),
            report,
        }
        .raise(F);
    }
    JsonB(doc)
}

/// Seed-004 ingest validation of a command list (array, or `{"commands": [...]}`).
#[pg_extern(stable, parallel_safe)]
fn validate_commands(commands: Option<JsonbArg>) -> JsonB {
    const F: &str = "validate_commands";
    let commands = required(commands, F, "commands", "Pass the node's command list as a jsonb array.");
    let value = commands.to_value().unwrap_or_else(|e| e.raise(F));
    report_json(&core_validate_commands(&value, guc::max_validation_details()))
}

/// Like validate_commands, but raises 22023 with the seed-004 400 body as DETAIL.
#[pg_extern(stable, parallel_safe)]
fn assert_valid_commands(commands: Option<JsonbArg>) -> JsonB {
    const F: &str = "assert_valid_commands";
    let commands = required(commands, F, "commands", "Pass the node's command list as a jsonb array.");
    let value = commands.to_value().unwrap_or_else(|e| e.raise(F));
    let report = core_validate_commands(&value, guc::max_validation_details());
    if !report.is_valid() {
        JitgenError::DocumentInvalid {
            subject: "command list".into(),
            validate_call: "jitgen.validate_commands(commands)".into(),
            report,
        }
        .raise(F);
    }
    JsonB(value)
}

/// Validates raw text (an LLM's reply): unparsable text is reported with code invalid_json.
#[pg_extern(stable, parallel_safe)]
fn validate_json_text(schema_name: Option<&str>, raw: Option<&str>) -> JsonB {
    const F: &str = "validate_json_text";
    let name = self::schema_name(schema_name, F);
    let raw = required(raw, F, "raw", "Pass the text to parse and validate.");
    let resolved = resolve(name, F);
    let limit = guc::max_document_bytes();
    if raw.len() > limit {
        JitgenError::DocumentTooLarge { bytes: raw.len(), limit }.raise(F);
    }
    let max = guc::max_validation_details();
    match serde_json::from_str::<Value>(raw) {
        Ok(doc) => report_json(&resolved.schema().validate(&doc, max)),
        Err(e) => {
            let mut report = Report::new(max);
            report.push("", jitgen_core::validation::Code::InvalidJson, format!("not valid JSON: {e}"));
            report_json(&report)
        }
    }
}

/// Compiles `schema` on every call (the pg_jsonschema style); prefer a registered schema.
/// `format` follows the draft unless `assert_formats` is true.
#[pg_extern(immutable, parallel_safe)]
fn matches_schema(schema: Option<JsonbArg>, doc: Option<JsonbArg>, assert_formats: default!(Option<bool>, "false")) -> bool {
    const F: &str = "matches_schema";
    let schema = required(schema, F, "schema", "Pass a JSON Schema as jsonb.");
    let schema = schema.to_value().unwrap_or_else(|e| e.raise(F));
    let compiled = CompiledSchema::compile_with(&schema, assert_formats.unwrap_or(false))
        .unwrap_or_else(|error| JitgenError::InvalidJsonSchema { name: "(inline)".into(), error }.raise(F));
    compiled.is_valid(&document(doc, F))
}

/// The version a name resolves to now (built-ins are version 1); NULL when unknown.
#[pg_extern(stable, parallel_safe)]
fn schema_version(schema_name: &str) -> Option<i32> {
    if Builtin::from_name(schema_name).is_some() {
        return Some(1);
    }
    Spi::get_one_with_args::<i32>(
        "SELECT max(version) FROM jitgen.schemas WHERE name = $1",
        &[schema_name.into()],
    )
    .or_raise("looking up a schema version", "schema_version")
}

/// Statement trigger target: tells every backend to drop its compiled schemas.
#[pg_extern(volatile, parallel_unsafe)]
fn _invalidate_schema_cache() {
    let relid = Spi::get_one::<pg_sys::Oid>("SELECT 'jitgen.schemas'::regclass::oid")
        .or_raise("invalidating the schema cache", "_invalidate_schema_cache")
        .unwrap_or(pg_sys::InvalidOid);
    SCHEMAS_RELID.store(relid.to_u32(), Ordering::Relaxed);
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
}

/// The built-in schemas, for the install script that records them in jitgen.schemas.
#[pg_extern(immutable, parallel_safe)]
fn _builtin_schemas() -> TableIterator<'static, (name!(name, String), name!(schema, JsonB))> {
    TableIterator::new(Builtin::ALL.into_iter().map(|b| (b.name().to_string(), JsonB(b.schema()))))
}

#[cfg(test)]
mod unit {
    #[test]
    fn schema_names() {
        assert!(super::valid_schema_name("workout_plan"));
        assert!(super::valid_schema_name("app.v2-plan"));
        assert!(!super::valid_schema_name("Workout"));
        assert!(!super::valid_schema_name("1plan"));
        assert!(!super::valid_schema_name(""));
        assert!(!super::valid_schema_name(&"a".repeat(64)));
    }
}
