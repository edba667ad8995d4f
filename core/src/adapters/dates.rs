//! Calendar dates and the relative-date phrases of command examples.
//!
//! Node developers write examples such as `"remind me tomorrow at 9am"` with
//! `expected_parameters: {"when": "tomorrow at 9am"}`. A model cannot learn to output the
//! literal phrase for a date parameter, so dataset assembly renders the *expected value* to an
//! absolute ISO-8601 date against a [`DateContext`] stored with the dataset, while the
//! utterance keeps the phrase: the adapter learns "tomorrow" → `today + 1` with today taken
//! from the system prompt.
//!
//! No chrono: the core crate takes "today" as an input and only needs proleptic Gregorian
//! arithmetic on whole days, which fits in a page (Howard Hinnant's civil-day algorithms).
//!
//! # Phrase rules
//!
//! A value is rendered only when the **whole value** is a recognised phrase (compared without
//! case, surrounding whitespace, commas or trailing `.`/`!`/`?`). Anything else, including a
//! value that merely *contains* a phrase ("Today Show"), is returned unchanged: rewriting inside
//! free text could corrupt names and titles, and an unknown phrase left as-is is still a
//! faithful copy of what the developer wrote. A leading `on` and/or `the` is ignored.
//!
//! Weeks start on Monday (ISO 8601). With `today` = T:
//!
//! | phrase | date |
//! |---|---|
//! | `today`, `tonight` | T |
//! | `tomorrow` / `yesterday` | T + 1 / T − 1 |
//! | `day after tomorrow` / `day before yesterday` | T + 2 / T − 2 |
//! | `<weekday>` | first such weekday **on or after** T (T itself when it matches) |
//! | `next <weekday>` | first such weekday **strictly after** T (1–7 days ahead) |
//! | `last <weekday>` | last such weekday **strictly before** T (1–7 days back) |
//! | `this <weekday>`, `<weekday> this week` | that weekday of T's Monday-based week (may be past, may be T) |
//! | `<weekday> next week` / `<weekday> last week` | that weekday of the following / previous week |
//! | `next week` / `last week` | Monday of the following / previous week |
//! | `next month` / `last month` | the 1st of the following / previous month |
//! | `next year` / `last year` | January 1st of the following / previous year |
//! | `in N <unit>`, `N <unit> from now`, `N <unit> from today` | T + N units |
//! | `N <unit> ago` | T − N units |
//!
//! `N` is digits (at most 4) or `a`, `an`, `one` … `twenty`, `thirty`; `<unit>` is `day`,
//! `week`, `fortnight` (14 days), `month` or `year`, singular or plural. Months and years keep
//! the day of the month and clamp it to the month's length (Jan 31 + 1 month = Feb 28 or 29;
//! Feb 29 + 1 year = Feb 28). Weekday names may be abbreviated (`mon`, `tue`, `tues`, `wed`,
//! `thu`, `thur`, `thurs`, `fri`, `sat`, `sun`).
//!
//! A time may follow or precede the date phrase: `at 9am`, `9:30 pm`, `at 21:00`, `at 9`,
//! `at 9 o'clock`, `at noon`, `at midnight` (`a.m.`/`p.m.` accepted). A bare number needs
//! `at`, `am`/`pm`, `o'clock` or a `:MM` part to count as a time. Vague times ("tomorrow
//! morning") are not guessed: the whole value stays unchanged.
//!
//! Output: `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS` when a time was given and the parameter is a
//! datetime. No UTC offset is written: the dataset only knows a timezone *label*, which the
//! system prompt states. Results outside years 0001–9999 are not rendered.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::validation::commands::{ParamType, ValueKind};

/// Years outside this range would not print as four ISO digits.
pub const MIN_YEAR: i32 = 1;
pub const MAX_YEAR: i32 = 9999;

/// Phrases longer than this are free text, not a date; the bound also keeps the brute-force
/// date/time split below cheap on hostile input.
const MAX_PHRASE_CHARS: usize = 80;
const MAX_PHRASE_TOKENS: usize = 8;

/// Day of the week, Monday first (ISO 8601 numbering minus one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// 0 for Monday … 6 for Sunday.
    pub fn index_from_monday(self) -> i64 {
        self as i64
    }

    pub fn name(self) -> &'static str {
        match self {
            Weekday::Monday => "Monday",
            Weekday::Tuesday => "Tuesday",
            Weekday::Wednesday => "Wednesday",
            Weekday::Thursday => "Thursday",
            Weekday::Friday => "Friday",
            Weekday::Saturday => "Saturday",
            Weekday::Sunday => "Sunday",
        }
    }

    /// Full or abbreviated English name, lower case.
    fn parse(word: &str) -> Option<Weekday> {
        Some(match word {
            "monday" | "mon" => Weekday::Monday,
            "tuesday" | "tue" | "tues" => Weekday::Tuesday,
            "wednesday" | "wed" => Weekday::Wednesday,
            "thursday" | "thu" | "thur" | "thurs" => Weekday::Thursday,
            "friday" | "fri" => Weekday::Friday,
            "saturday" | "sat" => Weekday::Saturday,
            "sunday" | "sun" => Weekday::Sunday,
            _ => return None,
        })
    }
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A proleptic Gregorian calendar date in years 0001–9999, written `YYYY-MM-DD` in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    year: i32,
    month: u8,
    day: u8,
}

impl CivilDate {
    /// None unless the date exists and the year is within 0001–9999.
    pub fn new(year: i32, month: u32, day: u32) -> Option<CivilDate> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(CivilDate { year, month: month as u8, day: day as u8 })
    }

    /// Strict `YYYY-MM-DD` (exactly 10 characters, ASCII digits).
    pub fn parse(text: &str) -> Option<CivilDate> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(r)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        CivilDate::new(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Days since 1970-01-01 (negative before).
    fn day_number(self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12; // March = 0, so the leap day is the last day of the year
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn from_day_number(n: i64) -> Option<CivilDate> {
        let z = n.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        CivilDate::new(i32::try_from(y).ok()?, m as u32, d as u32)
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday (index 3 from Monday).
        Weekday::ALL[(self.day_number() + 3).rem_euclid(7) as usize]
    }

    /// None when the result leaves years 0001–9999.
    pub fn add_days(self, days: i64) -> Option<CivilDate> {
        CivilDate::from_day_number(self.day_number().checked_add(days)?)
    }

    /// Calendar months; the day is clamped to the target month's length.
    pub fn add_months(self, months: i64) -> Option<CivilDate> {
        let index = i64::from(self.year).checked_mul(12)? + i64::from(self.month) - 1;
        let target = index.checked_add(months)?;
        let year = i32::try_from(target.div_euclid(12)).ok()?;
        let month = (target.rem_euclid(12) + 1) as u32;
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return None;
        }
        CivilDate::new(year, month, self.day().min(days_in_month(year, month)))
    }

    /// Monday of this date's week.
    fn week_start(self) -> Option<CivilDate> {
        self.add_days(-self.weekday().index_from_monday())
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
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

/// A wall-clock time with minute precision (voice phrases never name seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:00", self.hour, self.minute)
    }
}

/// The "now" a dataset is rendered against. Stored with the dataset and part of its hash, so
/// the trainer and any later audit see exactly which day "tomorrow" meant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DateContext {
    pub today: CivilDate,
    /// An IANA name or any label (`Europe/Paris`, `UTC`); shown to the model, never computed
    /// with: core has no timezone database and the caller already chose `today` in this zone.
    pub timezone: String,
}

impl DateContext {
    pub fn new(today: CivilDate, timezone: impl Into<String>) -> DateContext {
        DateContext { today, timezone: timezone.into() }
    }

    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({"today": self.today.to_string(), "timezone": self.timezone})
    }
}

/// A recognised phrase: the date, and the time when one was said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub date: CivilDate,
    pub time: Option<TimeOfDay>,
}

/// How much of a resolved phrase a parameter keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// `YYYY-MM-DD`; a spoken time is dropped.
    Date,
    /// `YYYY-MM-DDTHH:MM:SS` when a time was said, else `YYYY-MM-DD`.
    DateTime,
}

impl Resolved {
    pub fn render(&self, style: DateStyle) -> String {
        match (style, self.time) {
            (DateStyle::DateTime, Some(t)) => format!("{}T{}", self.date, t),
            _ => self.date.to_string(),
        }
    }
}

/// Renders `text` when the whole of it is a relative-date phrase (see the module docs),
/// keeping a spoken time (`"tomorrow at 9am"` → `"2026-01-19T09:00:00"` when today is
/// 2026-01-18). Anything else comes back unchanged.
pub fn render_relative_dates(text: &str, ctx: &DateContext) -> String {
    render_relative(text, ctx, DateStyle::DateTime)
}

/// As [`render_relative_dates`], with the output shape chosen by `style`.
pub fn render_relative(text: &str, ctx: &DateContext, style: DateStyle) -> String {
    match resolve_relative(text, ctx.today) {
        Some(r) => r.render(style),
        None => text.to_string(),
    }
}

/// Renders an expected parameter value according to its declared type: strings of `date` and
/// `datetime` parameters (and the elements of `array<date>` / `array<datetime>`); every other
/// value is returned as is. `time` parameters are deliberately untouched: they carry no date.
pub fn render_param_value(value: &Value, ty: Option<ParamType>, ctx: &DateContext) -> Value {
    let style = |kind: ValueKind| match kind {
        ValueKind::Date => Some(DateStyle::Date),
        ValueKind::DateTime => Some(DateStyle::DateTime),
        _ => None,
    };
    let one = |v: &Value, style: DateStyle| match v {
        Value::String(s) => Value::String(render_relative(s, ctx, style)),
        other => other.clone(),
    };
    match ty {
        Some(ParamType::One(kind)) => match style(kind) {
            Some(s) => one(value, s),
            None => value.clone(),
        },
        Some(ParamType::ArrayOf(kind)) => match (style(kind), value) {
            (Some(s), Value::Array(items)) => Value::Array(items.iter().map(|i| one(i, s)).collect()),
            _ => value.clone(),
        },
        None => value.clone(),
    }
}

/// Parses a whole phrase against `today`; None when it is not one the module docs list.
pub fn resolve_relative(text: &str, today: CivilDate) -> Option<Resolved> {
    if text.len() > MAX_PHRASE_CHARS {
        return None;
    }
    let normalized = normalize(text);
    let tokens: Vec<&str> = normalized.split_whitespace().collect();
    if tokens.is_empty() || tokens.len() > MAX_PHRASE_TOKENS {
        return None;
    }
    // Longest date prefix first, so "in 3 days" is never read as "in 3" + "days".
    for k in (1..=tokens.len()).rev() {
        let Some(date) = date_phrase(&tokens[..k], today) else { continue };
        if k == tokens.len() {
            return Some(Resolved { date, time: None });
        }
        if let Some(time) = time_phrase(&tokens[k..]) {
            return Some(Resolved { date, time: Some(time) });
        }
    }
    // "at 9am tomorrow": time first.
    for k in 1..tokens.len() {
        if let Some(time) = time_phrase(&tokens[..k]) {
            if let Some(date) = date_phrase(&tokens[k..], today) {
                return Some(Resolved { date, time: Some(time) });
            }
        }
    }
    None
}

fn normalize(text: &str) -> String {
    let mut s = text.trim().to_lowercase().replace("a.m.", "am").replace("p.m.", "pm");
    s = s.replace('\u{2019}', "'").replace(',', " ");
    s.trim_end_matches(['.', '!', '?']).to_string()
}

fn date_phrase(tokens: &[&str], today: CivilDate) -> Option<CivilDate> {
    let tokens = tokens.strip_prefix(&["on"]).unwrap_or(tokens);
    let tokens = tokens.strip_prefix(&["the"]).unwrap_or(tokens);
    let weekday = |w: &str| Weekday::parse(w);
    match tokens {
        ["today"] | ["tonight"] => Some(today),
        ["tomorrow"] => today.add_days(1),
        ["yesterday"] => today.add_days(-1),
        ["day", "after", "tomorrow"] => today.add_days(2),
        ["day", "before", "yesterday"] => today.add_days(-2),
        [w] => on_or_after(today, weekday(w)?),
        ["next", "week"] => today.week_start()?.add_days(7),
        ["last", "week"] => today.week_start()?.add_days(-7),
        ["next", "month"] => first_of_month(today)?.add_months(1),
        ["last", "month"] => first_of_month(today)?.add_months(-1),
        ["next", "year"] => CivilDate::new(today.year().checked_add(1)?, 1, 1),
        ["last", "year"] => CivilDate::new(today.year().checked_sub(1)?, 1, 1),
        ["next", w] => on_or_after(today.add_days(1)?, weekday(w)?),
        ["last", w] => on_or_after(today.add_days(-7)?, weekday(w)?),
        ["this", w] | [w, "this", "week"] => in_week(today, weekday(w)?, 0),
        [w, "next", "week"] => in_week(today, weekday(w)?, 1),
        [w, "last", "week"] => in_week(today, weekday(w)?, -1),
        ["in", rest @ ..] => offset(today, rest, 1),
        [rest @ .., "from", "now"] | [rest @ .., "from", "today"] => offset(today, rest, 1),
        [rest @ .., "ago"] => offset(today, rest, -1),
        _ => None,
    }
}

fn first_of_month(d: CivilDate) -> Option<CivilDate> {
    CivilDate::new(d.year(), d.month(), 1)
}

fn on_or_after(from: CivilDate, target: Weekday) -> Option<CivilDate> {
    let ahead = (target.index_from_monday() - from.weekday().index_from_monday()).rem_euclid(7);
    from.add_days(ahead)
}

fn in_week(today: CivilDate, target: Weekday, weeks: i64) -> Option<CivilDate> {
    today.week_start()?.add_days(weeks * 7 + target.index_from_monday())
}

/// `N unit` → today ± N units.
fn offset(today: CivilDate, tokens: &[&str], sign: i64) -> Option<CivilDate> {
    let [n, unit] = tokens else { return None };
    let n = sign * amount(n)?;
    match unit.trim_end_matches('s') {
        "day" => today.add_days(n),
        "week" => today.add_days(n * 7),
        "fortnight" => today.add_days(n * 14),
        "month" => today.add_months(n),
        "year" => today.add_months(n * 12),
        _ => None,
    }
}

fn amount(word: &str) -> Option<i64> {
    if !word.is_empty() && word.len() <= 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok();
    }
    const WORDS: [&str; 21] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    match word {
        "a" | "an" => Some(1),
        "thirty" => Some(30),
        w => WORDS.iter().position(|x| *x == w).map(|i| i as i64),
    }
}

fn time_phrase(tokens: &[&str]) -> Option<TimeOfDay> {
    let (has_at, rest) = match tokens {
        ["at", rest @ ..] => (true, rest),
        _ => (false, tokens),
    };
    match rest {
        ["noon"] | ["midday"] => return Some(TimeOfDay { hour: 12, minute: 0 }),
        ["midnight"] => return Some(TimeOfDay { hour: 0, minute: 0 }),
        [] => return None,
        _ => {}
    }
    // Tokens glue back together so "9 am", "9am" and "9 o'clock" parse alike.
    let joined: String = rest.concat();
    let (body, suffix) = if let Some(b) = joined.strip_suffix("am") {
        (b, Some(false))
    } else if let Some(b) = joined.strip_suffix("pm") {
        (b, Some(true))
    } else {
        (joined.as_str(), None)
    };
    let (body, oclock) = match body.strip_suffix("o'clock") {
        Some(b) => (b, true),
        None => (body, false),
    };
    let (hour_text, minute_text) = match body.split_once(':') {
        Some((h, m)) => (h, Some(m)),
        None => (body, None),
    };
    let digits = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u8>().ok())
            .flatten()
    };
    let mut hour = digits(hour_text, 2)?;
    let minute = match minute_text {
        Some(m) if m.len() == 2 => digits(m, 2)?,
        Some(_) => return None,
        None => 0,
    };
    if minute > 59 {
        return None;
    }
    match suffix {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour = match (pm, hour) {
                (false, 12) => 0,
                (true, 12) => 12,
                (true, h) => h + 12,
                (false, h) => h,
            };
        }
        None => {
            // A bare number is only a time when something says so ("at 9", "9:30", "9 o'clock").
            if !(has_at || oclock || minute_text.is_some()) || hour > 23 {
                return None;
            }
        }
    }
    Some(TimeOfDay { hour, minute })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip_across_four_centuries() {
        let start = CivilDate::new(1999, 1, 1).unwrap();
        let mut d = start;
        for i in 0..(146_097 + 400) {
            assert_eq!(d.day_number(), start.day_number() + i);
            assert_eq!(CivilDate::from_day_number(d.day_number()), Some(d));
            let next = d.add_days(1).unwrap();
            assert!(next > d);
            d = next;
        }
    }

    #[test]
    fn epoch_is_a_thursday() {
        assert_eq!(CivilDate::new(1970, 1, 1).unwrap().day_number(), 0);
        assert_eq!(CivilDate::new(1970, 1, 1).unwrap().weekday(), Weekday::Thursday);
    }

    #[test]
    fn bounds_are_refused_not_wrapped() {
        let max = CivilDate::new(9999, 12, 31).unwrap();
        assert_eq!(max.add_days(1), None);
        assert_eq!(CivilDate::new(1, 1, 1).unwrap().add_days(-1), None);
        assert_eq!(max.add_days(i64::MAX), None);
        assert_eq!(max.add_months(i64::MIN), None);
    }
}
