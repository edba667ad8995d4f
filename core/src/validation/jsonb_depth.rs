//! Nesting depth of a Postgres `JsonbContainer`, read from its headers alone.
//!
//! The depth guard runs on every CHECK-constraint call, so it must cost far less than the
//! validation it protects: it reads only container headers and entry words, never a scalar.
//! Layout (src/include/utils/jsonb.h): a u32 header (count, FSCALAR/FOBJECT/FARRAY flags), then
//! one u32 JEntry per child (objects: all keys, then all values), then the children's data.
//! A JEntry holds a type and either the child's length or, every 32nd entry, its end offset.
//! Nested containers start at a 4-byte aligned offset within the data area.

const JB_CMASK: u32 = 0x0FFF_FFFF;
const JB_FSCALAR: u32 = 0x1000_0000;
const JB_FOBJECT: u32 = 0x2000_0000;
const JENTRY_OFFLENMASK: u32 = 0x0FFF_FFFF;
const JENTRY_TYPEMASK: u32 = 0x7000_0000;
const JENTRY_HAS_OFF: u32 = 0x8000_0000;
const JENTRY_ISCONTAINER: u32 = 0x5000_0000;

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// True when the document nests deeper than `limit` (a scalar is depth 0, `[]` depth 1), or
/// when the bytes are not a well-formed container (never the case for data from Postgres).
pub fn exceeds(container: &[u8], limit: usize) -> bool {
    // (offset of a container within `container`, its depth)
    let mut stack: Vec<(usize, usize)> = vec![(0, 1)];
    while let Some((at, depth)) = stack.pop() {
        let Some(header) = word(container, at) else { return true };
        if header & JB_FSCALAR != 0 {
            // A top-level scalar is stored as a one-element pseudo-array.
            continue;
        }
        if depth > limit {
            return true;
        }
        let count = (header & JB_CMASK) as usize;
        let entries = if header & JB_FOBJECT != 0 { count * 2 } else { count };
        let data = at + 4 + 4 * entries;
        let mut end = 0usize;
        for i in 0..entries {
            let Some(entry) = word(container, at + 4 + 4 * i) else { return true };
            let start = end;
            let offlen = (entry & JENTRY_OFFLENMASK) as usize;
            end = if entry & JENTRY_HAS_OFF != 0 { offlen } else { start + offlen };
            if entry & JENTRY_TYPEMASK == JENTRY_ISCONTAINER {
                stack.push((data + start.next_multiple_of(4), depth + 1));
            }
        }
    }
    false
}
