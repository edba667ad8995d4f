//! The calendar, time zones and instants behind relative dates, on jiff and the IANA tz
//! database it bundles (every host renders the same instants, whatever its own tzdata): the
//! date a dataset is rendered against, its zone, and how instants are written.

use std::fmt;

use jiff::civil::Date;
pub use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Years outside this range would not print as four ISO digits.
pub const MIN_YEAR: i32 = 1;
pub const MAX_YEAR: i32 = 9999;

/// English name of a weekday, as the system prompt writes it.
pub fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// A proleptic Gregorian date in years 0001–9999, written `YYYY-MM-DD` in JSON. The calendar
/// is jiff's; this type only keeps results within four-digit years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate(Date);

impl CivilDate {
    /// None unless the date exists and the year is within 0001–9999.
    pub fn new(year: i32, month: u32, day: u32) -> Option<CivilDate> {
        let (y, m, d) = (i16::try_from(year).ok()?, i8::try_from(month).ok()?, i8::try_from(day).ok()?);
        CivilDate::checked(Date::new(y, m, d).ok()?)
    }

    fn checked(date: Date) -> Option<CivilDate> {
        (MIN_YEAR..=MAX_YEAR).contains(&i32::from(date.year())).then_some(CivilDate(date))
    }

    /// Strict `YYYY-MM-DD` (exactly 10 characters, ASCII digits).
    pub fn parse(text: &str) -> Option<CivilDate> {
        let b = text.as_bytes();
        let digits_at = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits_at(0..4) || !digits_at(5..7) || !digits_at(8..10) {
            return None;
        }
        CivilDate::new(text[0..4].parse().ok()?, text[5..7].parse().ok()?, text[8..10].parse().ok()?)
    }

    pub fn year(self) -> i32 {
        i32::from(self.0.year())
    }

    pub fn month(self) -> u32 {
        self.0.month() as u32
    }

    pub fn day(self) -> u32 {
        self.0.day() as u32
    }

    pub fn weekday(self) -> Weekday {
        self.0.weekday()
    }

    /// None when the result leaves years 0001–9999.
    pub fn add_days(self, days: i64) -> Option<CivilDate> {
        let days = i32::try_from(days).ok()?;
        CivilDate::checked(self.0.checked_add(days.days()).ok()?)
    }

    /// Calendar months; the day is clamped to the target month's length.
    pub fn add_months(self, months: i64) -> Option<CivilDate> {
        let months = i32::try_from(months).ok()?;
        CivilDate::checked(self.0.checked_add(months.months()).ok()?)
    }

    /// Monday of this date's week.
    pub(crate) fn week_start(self) -> Option<CivilDate> {
        self.add_days(-i64::from(self.weekday().to_monday_zero_offset()))
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year(), self.month(), self.day())
    }
}

impl Serialize for CivilDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CivilDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CivilDate, D::Error> {
        let text = String::deserialize(d)?;
        CivilDate::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("expected a YYYY-MM-DD date, got {text:?}")))
    }
}

/// How datetimes are written: an instant in UTC (`…Z`) or with the zone's offset (`…+01:00`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InstantStyle {
    #[default]
    Utc,
    Offset,
}

impl InstantStyle {
    pub fn parse(text: &str) -> Option<InstantStyle> {
        match text {
            "utc" => Some(InstantStyle::Utc),
            "offset" => Some(InstantStyle::Offset),
            _ => None,
        }
    }

    fn is_utc(&self) -> bool {
        *self == InstantStyle::Utc
    }
}

/// The "now" a dataset is rendered against. Stored with the dataset and part of its hash, so
/// the trainer and any later audit see exactly which day "tomorrow" meant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DateContext {
    pub today: CivilDate,
    /// An IANA zone name (`Europe/Paris`, `UTC`): wall-clock phrases are converted to instants
    /// in it.
    pub timezone: String,
    /// The instant the context was made, in `date_style` (the system prompt states it).
    /// Contexts stored before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    #[serde(default, skip_serializing_if = "InstantStyle::is_utc")]
    pub date_style: InstantStyle,
}

/// A zone name jiff's tz database does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownZone(pub String);

impl DateContext {
    /// A context for `today` in `timezone`, without an instant (tests, old datasets).
    pub fn new(today: CivilDate, timezone: impl Into<String>) -> DateContext {
        DateContext { today, timezone: timezone.into(), now: None, date_style: InstantStyle::Utc }
    }

    /// The context at `unix_seconds`: today is that instant's date in `timezone`.
    pub fn at(unix_seconds: i64, timezone: &str, style: InstantStyle) -> Result<DateContext, UnknownZone> {
        let tz = TimeZone::get(timezone).map_err(|_| UnknownZone(timezone.to_string()))?;
        let zoned = Timestamp::from_second(unix_seconds).map_err(|_| UnknownZone(timezone.to_string()))?.to_zoned_datetime(tz);
        let today = CivilDate::checked(zoned.date()).ok_or_else(|| UnknownZone(timezone.to_string()))?;
        Ok(DateContext { today, timezone: timezone.to_string(), now: Some(write_instant(&zoned, style)), date_style: style })
    }

    /// The zone's UTC offset at noon of `today` (`+01:00`), None for an unknown zone.
    pub fn offset_today(&self) -> Option<String> {
        let tz = TimeZone::get(&self.timezone).ok()?;
        let zoned = self.today.0.at(12, 0, 0, 0).to_zoned_datetime(tz).ok()?;
        Some(zoned.strftime("%:z").to_string())
    }

    /// The wall-clock time `hour:minute` of `date` in this zone as an RFC 3339 instant in the
    /// context's style; None for an unknown zone or outside years 0001–9999.
    pub fn instant(&self, date: CivilDate, hour: u8, minute: u8) -> Option<String> {
        let tz = TimeZone::get(&self.timezone).ok()?;
        let zoned = date.0.at(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).to_zoned_datetime(tz).ok()?;
        let year = i32::from(zoned.timestamp().to_zoned_datetime(TimeZone::UTC).year());
        (MIN_YEAR..=MAX_YEAR).contains(&year).then(|| write_instant(&zoned, self.date_style))
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = serde_json::json!({"today": self.today.to_string(), "timezone": self.timezone});
        if let Some(now) = &self.now {
            v["now"] = Value::String(now.clone());
        }
        if !self.date_style.is_utc() {
            v["date_style"] = serde_json::json!(self.date_style);
        }
        v
    }
}

/// True when jiff's bundled tz database knows `name`.
pub fn known_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// RFC 3339 offsets have whole minutes; the local mean times of old dates (Paris before 1911
/// was +00:09:21) do not, so those instants are written in UTC whatever the style.
fn write_instant(zoned: &jiff::ZonedDateTime, style: InstantStyle) -> String {
    match style {
        InstantStyle::Offset if zoned.offset().seconds() % 60 == 0 => zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        _ => zoned.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::render_relative_dates;

    #[test]
    fn bounds_are_refused_not_wrapped() {
        let max = CivilDate::new(9999, 12, 31).unwrap();
        assert_eq!(max.add_days(1), None);
        assert_eq!(CivilDate::new(1, 1, 1).unwrap().add_days(-1), None);
        assert_eq!(max.add_days(i64::MAX), None);
        assert_eq!(max.add_months(i64::MIN), None);
        assert_eq!(CivilDate::new(0, 1, 1), None);
        assert_eq!(CivilDate::new(2023, 2, 29), None);
    }

    #[test]
    fn contexts_know_their_zone() {
        // 2026-01-18T05:00:00Z is still the 18th in New York and already evening in Tokyo.
        let ny = DateContext::at(1_768_712_400, "America/New_York", InstantStyle::Utc).unwrap();
        assert_eq!((ny.today.to_string(), ny.now.as_deref()), ("2026-01-18".into(), Some("2026-01-18T05:00:00Z")));
        let tokyo = DateContext::at(1_768_712_400, "Asia/Tokyo", InstantStyle::Offset).unwrap();
        assert_eq!(tokyo.now.as_deref(), Some("2026-01-18T14:00:00+09:00"));
        let apia = DateContext::at(1_768_712_400, "Pacific/Kiritimati", InstantStyle::Utc).unwrap();
        assert_eq!(apia.today.to_string(), "2026-01-18");
        assert_eq!(DateContext::at(0, "Mars/Olympus", InstantStyle::Utc), Err(UnknownZone("Mars/Olympus".into())));
        assert_eq!(ny.offset_today().as_deref(), Some("-05:00"));
        assert!(known_zone("Australia/Lord_Howe") && known_zone("UTC") && !known_zone("CEST"));
    }

    #[test]
    fn offsets_with_seconds_are_written_in_utc() {
        // Paris kept local mean time (+00:09:21) until 1911.
        let ctx = DateContext { date_style: InstantStyle::Offset, ..DateContext::new(CivilDate::new(1900, 6, 1).unwrap(), "Europe/Paris") };
        assert_eq!(render_relative_dates("tomorrow at 9am", &ctx), "1900-06-02T08:50:39Z");
    }
}
