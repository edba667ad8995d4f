//! Calendar dates and the relative-date phrases of command examples.
//!
//! Node developers write examples such as `"remind me tomorrow at 9am"` with
//! `expected_parameters: {"when": "tomorrow at 9am"}`. A model cannot learn to output the
//! literal phrase for a date parameter, so dataset assembly renders the *expected value* to an
//! absolute ISO-8601 date against a [`DateContext`] stored with the dataset, while the
//! utterance keeps the phrase: the adapter learns "tomorrow" → `today + 1` with today taken
//! from the system prompt.
//!
//! The phrase grammar is ours; the calendar, time zones and instants are jiff's, with its
//! bundled IANA tz database.
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
//! Output: `YYYY-MM-DD` for dates. A datetime with a spoken time is an RFC 3339 **instant**: the
//! wall-clock time in the context's IANA time zone, converted with the tz database bundled in
//! jiff (so every backend and the sidecar agree, whatever the host's tzdata), written in UTC
//! with `Z` (`date_style` `utc`, the default, as the node SDK's examples) or with the zone's
//! offset (`offset`). A time a DST change skips ("2:30am" on the spring-forward night) moves
//! forward by the gap; one that happens twice takes the earlier offset (RFC 5545's and
//! Temporal's "compatible" rule). Results outside years 0001–9999 are not rendered.

use std::fmt;

use serde_json::Value;

pub use super::date_context::{known_zone, weekday_name, CivilDate, DateContext, InstantStyle, UnknownZone, Weekday};
use crate::validation::commands::{ParamType, ValueKind};

/// Phrases longer than this are free text, not a date; the bound also keeps the brute-force
/// date/time split below cheap on hostile input.
const MAX_PHRASE_CHARS: usize = 80;
const MAX_PHRASE_TOKENS: usize = 8;

/// Full or abbreviated English name, lower case.
fn parse_weekday(word: &str) -> Option<Weekday> {
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
    /// An RFC 3339 instant when a time was said, else `YYYY-MM-DD`.
    DateTime,
}

impl Resolved {
    /// The value a parameter gets; None when the wall-clock time has no instant in the
    /// context's zone within years 0001–9999 (or the zone is unknown).
    pub fn render(&self, style: DateStyle, ctx: &DateContext) -> Option<String> {
        match (style, self.time) {
            (DateStyle::DateTime, Some(t)) => {
ctx.instant(self.date, t.hour, t.minute)
            }
            _ => Some(self.date.to_string()),
        }
    }
}

/// Renders `text` when the whole of it is a relative-date phrase (see the module docs),
/// keeping a spoken time (`"tomorrow at 9am"` → `"2026-01-19T08:00:00Z"` when today is
/// 2026-01-18 in Europe/Paris). Anything else comes back unchanged.
pub fn render_relative_dates(text: &str, ctx: &DateContext) -> String {
    render_relative(text, ctx, DateStyle::DateTime)
}

/// As [`render_relative_dates`], with the output shape chosen by `style`.
pub fn render_relative(text: &str, ctx: &DateContext, style: DateStyle) -> String {
    resolve_relative(text, ctx.today).and_then(|r| r.render(style, ctx)).unwrap_or_else(|| text.to_string())
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
    let weekday = |w: &str| parse_weekday(w);
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
    from.add_days(i64::from(target.since(from.weekday())))
}

fn in_week(today: CivilDate, target: Weekday, weeks: i64) -> Option<CivilDate> {
    today.week_start()?.add_days(weeks * 7 + i64::from(target.to_monday_zero_offset()))
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
