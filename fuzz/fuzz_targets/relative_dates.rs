//! The relative-date phrase grammar over any text, day and zone: no panic; a phrase either
//! stays as written or becomes a `YYYY-MM-DD` date or an RFC 3339 instant in the asked style
//! (in UTC where the zone's offset then had seconds).
#![no_main]

use jitgen_core::adapters::{render_relative_dates, CivilDate, DateContext, InstantStyle};
use libfuzzer_sys::fuzz_target;

const ZONES: [&str; 8] = [
    "UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Tokyo", "Pacific/Kiritimati",
    "America/St_Johns", "Not/AZone",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let day = u16::from_le_bytes([data[0], data[1]]) as i64 * 56; // spans years 0001-9999
    let Some(today) = CivilDate::new(1, 1, 1).and_then(|d| d.add_days(day.min(3_652_058))) else { return };
    let zone = ZONES[data[2] as usize % ZONES.len()];
    let style = if data[3] % 2 == 0 { InstantStyle::Utc } else { InstantStyle::Offset };
    let text = String::from_utf8_lossy(&data[4..]);
    let ctx = DateContext { date_style: style, ..DateContext::new(today, zone) };
    let out = render_relative_dates(&text, &ctx);
    if out == text {
        return;
    }
    let b = out.as_bytes();
    assert!(b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-', "{text:?} -> {out:?}");
    if b.len() > 10 {
        assert_eq!(b[10], b'T', "{out:?}");
        match style {
            InstantStyle::Utc => assert!(out.ends_with('Z') && out.len() == 20, "{out:?}"),
            // Offsets with seconds (local mean time before a zone's first rule) are written in UTC.
            InstantStyle::Offset => assert!(
                (out.len() == 25 && matches!(b[19], b'+' | b'-')) || (out.len() == 20 && out.ends_with('Z')),
                "{out:?}"
            ),
        }
    }
});
