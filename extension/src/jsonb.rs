//! A jsonb argument that is converted on our terms.
//!
//! pgrx's `JsonB` panics (XX000) on documents serde_json refuses, such as 10,000 levels of
//! nesting or numbers beyond f64. We keep the raw datum, check its size before touching it,
//! and turn every failure into a specific SQLSTATE.

use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::{FromDatum, IntoDatum};
use serde_json::Value;

use crate::error::JitgenError;
use crate::guc;

pub struct JsonbArg {
    datum: pg_sys::Datum,
}

impl FromDatum for JsonbArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        (!is_null).then_some(JsonbArg { datum })
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for JsonbArg {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        unsafe { arg.unbox_arg_using_from_datum() }.expect("strict jsonb argument is not null")
    }
}

unsafe impl SqlTranslatable for JsonbArg {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbArg);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}

impl JsonbArg {
    /// Uncompressed size in bytes, read from the header without detoasting.
    pub fn raw_size(&self) -> usize {
        unsafe { pg_sys::toast_raw_datum_size(self.datum) }
    }

    fn check_size(&self) -> Result<usize, JitgenError> {
        let bytes = self.raw_size();
        let limit = guc::max_document_bytes();
        if bytes > limit {
            return Err(JitgenError::DocumentTooLarge { bytes, limit });
        }
        Ok(bytes)
    }

    /// Calls `f` with the `JsonbContainer` bytes (the datum after its varlena header), after
    /// the size check. This is the zero-copy path: nothing is parsed or allocated per value.
    pub fn with_container<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, JitgenError> {
        self.check_size()?;
        unsafe {
            let varlena = self.datum.cast_mut_ptr::<pg_sys::varlena>();
            let detoasted = pg_sys::pg_detoast_datum(varlena);
            let container = std::slice::from_raw_parts(
                pgrx::varlena::vardata_any(detoasted).cast::<u8>(),
                pgrx::varlena::varsize_any_exhdr(detoasted),
            );
            let result = f(container);
            if detoasted != varlena {
                pg_sys::pfree(detoasted.cast());
            }
            Ok(result)
        }
    }

    /// The document as text, after the size check.
    pub fn to_text(&self) -> Result<String, JitgenError> {
        let bytes = self.check_size()?;
        unsafe {
            let varlena = self.datum.cast_mut_ptr::<pg_sys::varlena>();
            // Not the _packed variant: Jsonb needs a 4-byte varlena header.
            let detoasted = pg_sys::pg_detoast_datum(varlena);
            let jsonb = detoasted as *mut pg_sys::Jsonb;
            let cstr = pg_sys::JsonbToCString(std::ptr::null_mut(), &mut (*jsonb).root, bytes as i32);
            let text = std::ffi::CStr::from_ptr(cstr).to_string_lossy().into_owned();
            pg_sys::pfree(cstr.cast());
            if detoasted != varlena {
                pg_sys::pfree(detoasted.cast());
            }
            Ok(text)
        }
    }

    /// The document as a serde value, after the size and depth checks.
    pub fn to_value(&self) -> Result<Value, JitgenError> {
        parse_document(&self.to_text()?)
    }
}

/// Parses text that Postgres already accepted as JSON; what can still fail is depth and
/// numbers beyond f64.
pub fn parse_document(text: &str) -> Result<Value, JitgenError> {
    serde_json::from_str(text).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            JitgenError::DocumentTooDeep { limit: jitgen_core::validation::MAX_DEPTH }
        } else {
            JitgenError::DocumentUnrepresentable { reason: e.to_string() }
        }
    })
}

/// A jsonb result given as JSON text: Postgres parses it into jsonb directly, skipping the
/// `serde_json::Value` tree pgrx's `JsonB` would build and print first.
pub struct JsonbText(pub String);

impl IntoDatum for JsonbText {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // serde_json never emits NUL (it escapes U+0000), so this cannot fail on our text.
        let text = std::ffi::CString::new(self.0).ok()?;
        unsafe { pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(text.as_ptr().into())]) }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

unsafe impl BoxRet for JsonbText {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

unsafe impl SqlTranslatable for JsonbText {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbText);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
