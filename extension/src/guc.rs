//! Settings (`jitgen.*`), private statics behind accessors.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

static MAX_DOCUMENT_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
static MAX_VALIDATION_DETAILS: GucSetting<i32> = GucSetting::<i32>::new(100);

/// Largest jsonb document (uncompressed bytes) the validators accept.
pub fn max_document_bytes() -> usize {
    MAX_DOCUMENT_BYTES.get().max(0) as usize
}

/// How many problems a validation report lists before it says it was truncated.
pub fn max_validation_details() -> usize {
    MAX_VALIDATION_DETAILS.get().max(1) as usize
}

pub fn init() {
    GucRegistry::define_int_guc(
        c"jitgen.max_document_bytes",
        c"Largest document jitgen validates.",
        c"Documents above this size are refused with SQLSTATE 54000 before any parsing.",
        &MAX_DOCUMENT_BYTES,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"jitgen.max_validation_details",
        c"Most problems listed in one validation report.",
        c"Reports stop listing problems at this count and say \"truncated\": true.",
        &MAX_VALIDATION_DETAILS,
        1,
        10_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}
