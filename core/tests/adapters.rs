//! Dataset assembly for per-node LoRA adapters (seed 004): relative dates, every pair kind,
//! antipattern routing, the 2000-pair limit, the holdout split, hash stability, invalid
//! payloads, and property tests.

use std::collections::BTreeSet;

use jitgen_core::adapters::{
    assemble, holdout_key, render_param_value, render_relative, render_relative_dates, resolve_relative, system_prompt,
    AssembleError, CivilDate, Dataset, DatasetParams, DateContext, DateStyle, InstantStyle, PairKind, Split, Weekday,
    MAX_PAIRS,
};
use jitgen_core::validation::commands::parse_param_type;
use jitgen_core::validation::Code;
use proptest::prelude::*;
use serde_json::{json, Value};
mod common;
use common::command as seed_command;

fn date(s: &str) -> CivilDate {
    CivilDate::parse(s).unwrap_or_else(|| panic!("bad test date {s}"))
}

fn ctx_on(today: &str) -> DateContext {
    DateContext::new(date(today), "Europe/Paris")
}

/// 2026-01-18 is a Sunday (the seed's adapter_ready example is dated that day).
fn ctx() -> DateContext {
    ctx_on("2026-01-18")
}

/// Four commands: weather and calendar ones that look alike, and an unrelated timer.
fn fixture() -> Value {
    json!([
        {
            "command_name": "get_weather",
            "description": "Current weather or forecast for a city.",
            "keywords": ["weather", "forecast"],
            "parameters": [
                {"name": "city", "type": "str", "required": true, "description": "City name"},
                {"name": "day", "type": "date", "required": false},
                {"name": "unit", "type": "str", "required": false, "enum_values": ["celsius", "fahrenheit"]}
            ],
            "examples": [
                {"voice_command": "what's the weather in Paris", "expected_parameters": {"city": "Paris"}, "is_primary": true},
                {"voice_command": "weather in Oslo tomorrow", "expected_parameters": {"city": "Oslo", "day": "tomorrow"}},
                {"voice_command": "forecast for Rome next Friday in celsius",
                 "expected_parameters": {"city": "Rome", "day": "next Friday", "unit": "celsius"}},
                {"voice_command": "weather in Bergen", "expected_parameters": {"city": "Bergen", "day": null}}
            ],
            "rules": ["Default to the user's city when none is said."],
            "critical_rules": ["Never invent a city."],
            "antipatterns": [
                {"command_name": "create_event", "description": "put lunch with Sam on my calendar tomorrow"},
                {"command_name": "play_music", "description": "play some rain sounds"}
            ]
        },
        {
            "command_name": "set_timer",
            "description": "Start a countdown timer.",
            "parameters": [{"name": "duration", "type": "timedelta", "required": true}],
            "examples": [
                {"voice_command": "set a timer for five minutes", "expected_parameters": {"duration": 300}, "is_primary": true}
            ]
        },
        {
            "command_name": "create_event",
            "description": "Add an event to the calendar.",
            "keywords": ["calendar", "event"],
            "parameters": [
                {"name": "title", "type": "str", "required": true},
                {"name": "when", "type": "datetime", "required": true}
            ],
            "examples": [
                {"voice_command": "schedule dentist tomorrow at 9am",
                 "expected_parameters": {"title": "dentist", "when": "tomorrow at 9am"}, "is_primary": true},
                {"voice_command": "add standup next Monday at 10:30",
                 "expected_parameters": {"title": "standup", "when": "next Monday at 10:30"}}
            ],
            "antipatterns": [{"command_name": "list_events", "description": "what's on my calendar today"}]
        },
        {
            "command_name": "list_events",
            "description": "Read the agenda of a day.",
            "keywords": ["calendar", "agenda"],
            "parameters": [{"name": "day", "type": "date", "required": false}],
            "examples": [
                {"voice_command": "what's on my agenda today", "expected_parameters": {"day": "today"}, "is_primary": true}
            ]
        }
    ])
}

fn build(commands: &Value) -> Dataset {
    assemble("node-1", "qwen2.5-3b", commands, &DatasetParams::default(), &ctx()).expect("fixture assembles")
}

fn all_pairs(d: &Dataset) -> Vec<&jitgen_core::adapters::Pair> {
    d.pairs().map(|(_, p)| p).collect()
}

/// `n` commands with `per` examples each, every utterance distinct, no two commands alike.
fn bulk(n: usize, per: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({
                    "command_name": format!("cmd{i:04}"),
                    "description": "bulk",
                    "parameters": [],
                    "examples": (0..per)
                        .map(|j| json!({"voice_command": format!("utterance {i} {j}"), "expected_parameters": {}}))
                        .collect::<Vec<_>>()
                })
            })
            .collect(),
    )
}

// ---------------------------------------------------------------- relative dates

#[test]
fn relative_date_table() {
    // (today, phrase, rendered with DateStyle::DateTime)
    let rows: &[(&str, &str, &str)] = &[
        // Basic phrases, today = Sunday 2026-01-18.
        ("2026-01-18", "today", "2026-01-18"),
        ("2026-01-18", "tonight", "2026-01-18"),
        ("2026-01-18", "tomorrow", "2026-01-19"),
        ("2026-01-18", "  Tomorrow. ", "2026-01-19"),
        ("2026-01-18", "yesterday", "2026-01-17"),
        ("2026-01-18", "the day after tomorrow", "2026-01-20"),
        ("2026-01-18", "day before yesterday", "2026-01-16"),
        ("2026-01-18", "next Friday", "2026-01-23"),
        ("2026-01-18", "Friday", "2026-01-23"),
        ("2026-01-18", "on fri", "2026-01-23"),
        ("2026-01-18", "on Sunday", "2026-01-18"),
        ("2026-01-18", "next Sunday", "2026-01-25"),
        ("2026-01-18", "this Monday", "2026-01-12"),
        ("2026-01-18", "this Sunday", "2026-01-18"),
        ("2026-01-18", "Wednesday this week", "2026-01-14"),
        ("2026-01-18", "last Friday", "2026-01-16"),
        ("2026-01-18", "last Sunday", "2026-01-11"),
        ("2026-01-18", "Tuesday next week", "2026-01-20"),
        ("2026-01-18", "Tuesday last week", "2026-01-06"),
        ("2026-01-18", "next week", "2026-01-19"),
        ("2026-01-18", "last week", "2026-01-05"),
        ("2026-01-18", "next month", "2026-02-01"),
        ("2026-01-18", "last month", "2025-12-01"),
        ("2026-01-18", "next year", "2027-01-01"),
        ("2026-01-18", "last year", "2025-01-01"),
        ("2026-01-18", "in 3 days", "2026-01-21"),
        ("2026-01-18", "in three days", "2026-01-21"),
        ("2026-01-18", "in 1 day", "2026-01-19"),
        ("2026-01-18", "in two weeks", "2026-02-01"),
        ("2026-01-18", "in a week", "2026-01-25"),
        ("2026-01-18", "in a fortnight", "2026-02-01"),
        ("2026-01-18", "in 1 month", "2026-02-18"),
        ("2026-01-18", "in twenty days", "2026-02-07"),
        ("2026-01-18", "10 days from now", "2026-01-28"),
        ("2026-01-18", "a week from today", "2026-01-25"),
        ("2026-01-18", "2 days ago", "2026-01-16"),
        ("2026-01-18", "three weeks ago", "2025-12-28"),
        // With a time.
        ("2026-01-18", "tomorrow at 9am", "2026-01-19T08:00:00Z"),
        ("2026-01-18", "Tomorrow at 9 AM", "2026-01-19T08:00:00Z"),
        ("2026-01-18", "tomorrow at 9:30 p.m.", "2026-01-19T20:30:00Z"),
        ("2026-01-18", "tomorrow 9:30", "2026-01-19T08:30:00Z"),
        ("2026-01-18", "at noon tomorrow", "2026-01-19T11:00:00Z"),
        ("2026-01-18", "next Friday at 21:00", "2026-01-23T20:00:00Z"),
        ("2026-01-18", "next Monday at 10:30", "2026-01-19T09:30:00Z"),
        ("2026-01-18", "tonight at 8pm", "2026-01-18T19:00:00Z"),
        ("2026-01-18", "today at 12am", "2026-01-17T23:00:00Z"),
        ("2026-01-18", "today at 12pm", "2026-01-18T11:00:00Z"),
        ("2026-01-18", "tomorrow at midnight", "2026-01-18T23:00:00Z"),
        ("2026-01-18", "in 5 days at 7", "2026-01-23T06:00:00Z"),
        ("2026-01-18", "friday at 6 o'clock", "2026-01-23T05:00:00Z"),
        // Year boundaries.
        ("2025-12-31", "tomorrow", "2026-01-01"),
        ("2026-01-01", "yesterday", "2025-12-31"),
        ("2025-12-29", "next Friday", "2026-01-02"),
        ("2025-12-29", "this Sunday", "2026-01-04"),
        ("2025-12-15", "next month", "2026-01-01"),
        ("2026-12-28", "next week", "2027-01-04"),
        ("2026-12-28", "in two weeks", "2027-01-11"),
        ("2026-12-31", "next year", "2027-01-01"),
        // Month boundaries and month-length clamping.
        ("2026-01-31", "tomorrow", "2026-02-01"),
        ("2026-01-31", "in 1 month", "2026-02-28"),
        ("2026-03-31", "in 1 month", "2026-04-30"),
        ("2026-03-31", "1 month ago", "2026-02-28"),
        ("2026-03-31", "last month", "2026-02-01"),
        ("2026-04-30", "tomorrow", "2026-05-01"),
        // Leap years (2024 and 2000 are, 2023 and 2100 are not).
        ("2024-02-28", "tomorrow", "2024-02-29"),
        ("2023-02-28", "tomorrow", "2023-03-01"),
        ("2000-02-28", "tomorrow", "2000-02-29"),
        ("2100-02-28", "tomorrow", "2100-03-01"),
        ("2024-03-01", "yesterday", "2024-02-29"),
        ("2023-03-01", "yesterday", "2023-02-28"),
        ("2024-01-31", "in a month", "2024-02-29"),
        ("2024-02-29", "in 1 year", "2025-02-28"),
        ("2024-02-29", "in 4 years", "2028-02-29"),
        ("2024-02-26", "next Thursday", "2024-02-29"),
        ("2024-02-29", "in a week", "2024-03-07"),
    ];
    for (today, phrase, expected) in rows {
        let got = render_relative_dates(phrase, &ctx_on(today));
        assert_eq!(&got, expected, "today {today}, phrase {phrase:?}");
    }
}

#[test]
fn wall_clock_phrases_become_instants_across_dst_changes() {
    // (zone, today, phrase, the instant in UTC)
    let rows: &[(&str, &str, &str, &str)] = &[
        // Paris springs forward on Sunday 2026-03-29 at 02:00 (+01:00 → +02:00).
        ("Europe/Paris", "2026-03-28", "today at 9am", "2026-03-28T08:00:00Z"),
        ("Europe/Paris", "2026-03-28", "tomorrow at 9am", "2026-03-29T07:00:00Z"),
        ("Europe/Paris", "2026-03-28", "tomorrow at midnight", "2026-03-28T23:00:00Z"),
        // 02:30 does not exist that night: it moves forward by the gap, to 03:30 +02:00.
        ("Europe/Paris", "2026-03-28", "tomorrow at 2:30am", "2026-03-29T01:30:00Z"),
        ("Europe/Paris", "2026-03-20", "in two weeks at 9", "2026-04-03T07:00:00Z"),
        // ... and falls back on Sunday 2026-10-25 at 03:00: 02:30 happens twice, the first counts.
        ("Europe/Paris", "2026-10-24", "tomorrow at 2:30am", "2026-10-25T00:30:00Z"),
        ("Europe/Paris", "2026-10-24", "next Friday at 21:00", "2026-10-30T20:00:00Z"),
        ("Europe/Paris", "2026-10-17", "in a week at 9", "2026-10-24T07:00:00Z"),
        ("Europe/Paris", "2026-10-17", "in two weeks at 9", "2026-10-31T08:00:00Z"),
        // New York springs forward on Sunday 2026-03-08 at 02:00 (−05:00 → −04:00).
        ("America/New_York", "2026-03-07", "today at 9am", "2026-03-07T14:00:00Z"),
        ("America/New_York", "2026-03-07", "tomorrow at 9am", "2026-03-08T13:00:00Z"),
        ("America/New_York", "2026-03-06", "next Friday at 21:00", "2026-03-14T01:00:00Z"),
        ("America/New_York", "2026-03-07", "tomorrow at midnight", "2026-03-08T05:00:00Z"),
        // Lord Howe moves by 30 minutes on Sunday 2026-10-04 at 02:00 (+10:30 → +11:00).
        ("Australia/Lord_Howe", "2026-10-03", "today at 9am", "2026-10-02T22:30:00Z"),
        ("Australia/Lord_Howe", "2026-10-03", "tomorrow at 9am", "2026-10-03T22:00:00Z"),
        ("Australia/Lord_Howe", "2026-10-03", "tomorrow at 2:15am", "2026-10-03T15:45:00Z"),
        // No DST in Tokyo; UTC is UTC.
        ("Asia/Tokyo", "2026-03-28", "tomorrow at 9am", "2026-03-29T00:00:00Z"),
        ("Asia/Tokyo", "2026-10-24", "next Friday at 21:00", "2026-10-30T12:00:00Z"),
        ("UTC", "2026-03-28", "tomorrow at midnight", "2026-03-29T00:00:00Z"),
        ("UTC", "2026-03-28", "tomorrow", "2026-03-29"),
    ];
    for (zone, today, phrase, expected) in rows {
        let got = render_relative_dates(phrase, &DateContext::new(date(today), *zone));
        assert_eq!(&got, expected, "{zone}, today {today}, {phrase:?}");
    }
    // The same instants with the zone's offset, when a node asks for that style.
    let offset = |zone: &str, today: &str| DateContext { date_style: InstantStyle::Offset, ..DateContext::new(date(today), zone) };
    assert_eq!(render_relative_dates("tomorrow at 9am", &offset("Europe/Paris", "2026-03-28")), "2026-03-29T09:00:00+02:00");
    assert_eq!(render_relative_dates("today at 9am", &offset("Europe/Paris", "2026-03-28")), "2026-03-28T09:00:00+01:00");
    assert_eq!(render_relative_dates("tomorrow at 2:15am", &offset("Australia/Lord_Howe", "2026-10-03")), "2026-10-04T02:45:00+11:00");
    // An unknown zone renders dates but never invents an instant.
    let mars = DateContext::new(date("2026-03-28"), "Mars/Olympus");
    assert_eq!(render_relative_dates("tomorrow", &mars), "2026-03-29");
    assert_eq!(render_relative_dates("tomorrow at 9am", &mars), "tomorrow at 9am");
}

#[test]
fn datetime_arrays_render_instants_a_node_can_compare_with_the_seeds_example() {
    // Seed 004's SDK example: "resolved_datetimes": ["2026-01-18T05:00:00Z"], midnight in New York.
    let ctx = DateContext::new(date("2026-01-17"), "America/New_York");
    let rendered = render_param_value(&json!(["tomorrow at midnight", "tomorrow at 9am"]), parse_param_type("array<datetime>"), &ctx);
    assert_eq!(rendered, json!(["2026-01-18T05:00:00Z", "2026-01-18T14:00:00Z"]));
    assert_eq!(rendered[0], json!("2026-01-18T05:00:00Z"));
}

#[test]
fn node_params_carry_the_date_style_apart_from_the_lora_parameters() {
    use jitgen_core::adapters::node_params;
    let (params, style) = node_params(&json!({"r": 8, "date_style": "offset"})).unwrap();
    assert_eq!((params.r, style), (8, InstantStyle::Offset));
    assert_eq!(node_params(&json!({})).unwrap().1, InstantStyle::Utc);
    let e = node_params(&json!({"date_style": "local"})).unwrap_err();
    let detail: Value = serde_json::from_str(&e.detail()).unwrap();
    assert_eq!(detail["field"], json!("params.date_style"));
    assert_eq!(detail["message"], json!("date_style must be \"utc\" or \"offset\", got \"local\""));
    assert!(node_params(&json!({"date_style": "utc", "rnak": 8})).is_err(), "other unknown fields are still refused");
}

#[test]
fn date_style_drops_the_time() {
    assert_eq!(render_relative("tomorrow at 9am", &ctx(), DateStyle::Date), "2026-01-19");
    assert_eq!(render_relative("tomorrow", &ctx(), DateStyle::DateTime), "2026-01-19");
}

#[test]
fn unknown_phrases_are_left_as_is() {
    for text in [
        "",
        "someday",
        "Today Show",
        "remind me tomorrow",
        "tomorrow morning",
        "next weekend",
        "this week",
        "2026-01-19",
        "in many days",
        "in 12345 days",
        "tomorrow at 25:00",
        "tomorrow at 13pm",
        "tomorrow at 9:5",
        "tomorrow 9",
        "next next friday",
        "weather in Oslo tomorrow",
    ] {
        assert_eq!(render_relative_dates(text, &ctx()), text, "{text:?} must stay");
    }
}

#[test]
fn out_of_range_results_are_left_as_is() {
    assert_eq!(render_relative_dates("tomorrow", &ctx_on("9999-12-31")), "tomorrow");
    assert_eq!(render_relative_dates("last year", &ctx_on("0001-06-01")), "last year");
    assert_eq!(render_relative_dates("in 9999 years", &ctx()), "in 9999 years");
}

#[test]
fn parameter_values_render_by_declared_type() {
    let c = ctx();
    let ty = |t: &str| parse_param_type(t);
    assert_eq!(render_param_value(&json!("tomorrow at 9am"), ty("date"), &c), json!("2026-01-19"));
    assert_eq!(render_param_value(&json!("tomorrow at 9am"), ty("datetime"), &c), json!("2026-01-19T08:00:00Z"));
    assert_eq!(render_param_value(&json!("tomorrow"), ty("str"), &c), json!("tomorrow"));
    assert_eq!(render_param_value(&json!("tomorrow"), ty("time"), &c), json!("tomorrow"));
    assert_eq!(
        render_param_value(&json!(["today", "next friday", 3]), ty("array<date>"), &c),
        json!(["2026-01-18", "2026-01-23", 3])
    );
    assert_eq!(render_param_value(&json!(["today at 5pm"]), ty("datetime[]"), &c), json!(["2026-01-18T16:00:00Z"]));
    assert_eq!(render_param_value(&json!(["today"]), ty("list"), &c), json!(["today"]));
    assert_eq!(render_param_value(&json!("today"), None, &c), json!("today"));
}

#[test]
fn civil_dates_parse_strictly_and_know_their_weekday() {
    assert_eq!(date("2026-01-18").weekday(), Weekday::Sunday);
    assert_eq!(date("2000-01-01").weekday(), Weekday::Saturday);
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-1-18",
        "0000-01-01",
        "２０２６-01-18",
        "2026-01-18T00:00:00",
        "",
    ] {
        assert_eq!(CivilDate::parse(bad), None, "{bad}");
    }
    assert!(CivilDate::parse("2024-02-29").is_some());
    let c: DateContext = serde_json::from_value(json!({"today": "2026-01-18", "timezone": "UTC"})).unwrap();
    assert_eq!(serde_json::to_value(&c).unwrap(), json!({"today": "2026-01-18", "timezone": "UTC"}));
    assert!(serde_json::from_value::<DateContext>(json!({"today": "2026-02-30", "timezone": "UTC"})).is_err());
}

// ---------------------------------------------------------------- pair kinds

#[test]
fn positive_pairs_render_dates_but_keep_utterances() {
    let d = build(&fixture());
    let positives: Vec<_> = all_pairs(&d).into_iter().filter(|p| p.kind == PairKind::Positive).collect();
    assert_eq!(positives.len(), 8);
    assert_eq!(d.counts.positives, 8);
    let by_user = |u: &str| positives.iter().find(|p| p.user == u).unwrap_or_else(|| panic!("no pair for {u}"));

    let p = by_user("schedule dentist tomorrow at 9am");
    assert_eq!(p.command, "create_event");
    assert_eq!(p.output.name.as_deref(), Some("create_event"));
    assert_eq!(Value::Object(p.output.arguments.clone()), json!({"title": "dentist", "when": "2026-01-19T08:00:00Z"}));
    assert_eq!(
        by_user("forecast for Rome next Friday in celsius").output.arguments,
        *json!({"city": "Rome", "day": "2026-01-23", "unit": "celsius"}).as_object().unwrap()
    );
    assert_eq!(by_user("what's on my agenda today").output.arguments["day"], json!("2026-01-18"));
    assert_eq!(by_user("add standup next Monday at 10:30").output.arguments["when"], json!("2026-01-19T09:30:00Z"));
    // null means "not given" and is left out.
    assert_eq!(Value::Object(by_user("weather in Bergen").output.arguments.clone()), json!({"city": "Bergen"}));
    // Non-date values are untouched.
    assert_eq!(by_user("set a timer for five minutes").output.arguments["duration"], json!(300));
}

#[test]
fn pair_json_shape() {
    let d = build(&fixture());
    let p = all_pairs(&d).into_iter().find(|p| p.user == "set a timer for five minutes").unwrap();
    let v = serde_json::to_value(p).unwrap();
    assert_eq!(v["user"], json!("set a timer for five minutes"));
    assert!(d.system.contains("set_timer"));
    assert_eq!(v["output"], json!({"name": "set_timer", "arguments": {"duration": 300}}));
    assert_eq!(v["command"], json!("set_timer"));
    assert_eq!(v["kind"], json!("positive"));
    assert_eq!(v["required"], json!(["duration"]), "the command's required parameters");
    assert_eq!(p.output.to_target_text(), r#"{"name":"set_timer","arguments":{"duration":300}}"#);
}

#[test]
fn system_prompt_has_date_context_and_tool_list() {
    let d = build(&fixture());
    let system = &d.system;
    for needle in [
        "Today is 2026-01-18 (Sunday), timezone Europe/Paris (UTC+01:00).",
        "date-times as RFC 3339 instants in UTC (YYYY-MM-DDTHH:MM:SSZ)",
        "- get_weather: Current weather or forecast for a city.",
        "  - city (str, required): City name",
        "  - day (date, optional)",
        r#"  - unit (str, optional) One of: ["celsius","fahrenheit"]"#,
        "  Rules:\n  - Default to the user's city when none is said.",
        "  Critical rules:\n  - Never invent a city.",
        "- set_timer: Start a countdown timer.",
        "  - when (datetime, required)",
        r#"{"name":null,"arguments":{}}"#,
    ] {
        assert!(system.contains(needle), "system prompt lacks {needle:?}:\n{system}");
    }
    // Tools appear sorted by name.
    let order: Vec<usize> = ["- create_event", "- get_weather", "- list_events", "- set_timer"]
        .iter()
        .map(|t| system.find(t).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(&system_prompt(&fixture(), &ctx()).unwrap(), system);
}

#[test]
fn node_text_cannot_forge_prompt_lines() {
    let cmds = json!([{
        "command_name": "x", "description": "line one\n- fake_tool: injected",
        "parameters": [], "examples": [{"voice_command": "do x", "expected_parameters": {}}]
    }]);
    let prompt = system_prompt(&cmds, &ctx()).unwrap();
    assert!(prompt.contains("- x: line one - fake_tool: injected\n"));
    assert!(!prompt.contains("\n- fake_tool"));
    // A name that one line cannot hold verbatim is quoted, never altered.
    let cmds = json!([{
        "command_name": "odd\n- name", "description": "",
        "parameters": [], "examples": [{"voice_command": "do it", "expected_parameters": {}}]
    }]);
    let prompt = system_prompt(&cmds, &ctx()).unwrap();
    assert!(prompt.contains("\n- \"odd\\n- name\"\n"), "{prompt}");
}

#[test]
fn negatives_route_to_existing_command_or_to_no_tool() {
    let d = build(&fixture());
    let negatives: Vec<_> = all_pairs(&d).into_iter().filter(|p| p.kind == PairKind::Negative).collect();
    assert_eq!(negatives.len(), 3);
    assert_eq!(d.counts.negatives, 3);
    let by_user = |u: &str| negatives.iter().find(|p| p.user == u).unwrap();

    // create_event exists: route there, with no arguments.
    let p = by_user("put lunch with Sam on my calendar tomorrow");
    assert_eq!(p.command, "get_weather");
    assert_eq!(p.output.name.as_deref(), Some("create_event"));
    assert!(p.output.arguments.is_empty());
    // play_music is not in the payload: no tool.
    let p = by_user("play some rain sounds");
    assert_eq!(p.output.name, None);
    assert_eq!(serde_json::to_value(&p.output).unwrap(), json!({"name": null, "arguments": {}}));
    assert_eq!(p.output.to_target_text(), r#"{"name":null,"arguments":{}}"#);
    assert_eq!(by_user("what's on my calendar today").output.name.as_deref(), Some("list_events"));
}

#[test]
fn negatives_naming_their_own_command_mean_no_tool() {
    let cmds = json!([{
        "command_name": "lights", "description": "Switch lights", "parameters": [],
        "examples": [{"voice_command": "lights on", "expected_parameters": {}}],
        "antipatterns": [{"command_name": "lights", "description": "light a candle"}]
    }]);
    let d = build(&cmds);
    let p = all_pairs(&d).into_iter().find(|p| p.kind == PairKind::Negative).unwrap();
    assert_eq!(p.output.name, None);
}

#[test]
fn negatives_are_deduplicated_and_capped_per_command() {
    let antipatterns: Vec<Value> = ["one", "one", "two", "  ", "three", "four", "five", "six", "seven"]
        .iter()
        .map(|d| json!({"command_name": "nowhere", "description": d}))
        .collect();
    let cmds = json!([{
        "command_name": "lights", "description": "", "parameters": [],
        "examples": [{"voice_command": "lights on", "expected_parameters": {}}],
        "antipatterns": antipatterns
    }]);
    let d = build(&cmds);
    let users: Vec<&str> =
        all_pairs(&d).into_iter().filter(|p| p.kind == PairKind::Negative).map(|p| p.user.as_str()).collect();
    let mut sorted = users.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["five", "four", "one", "three", "two"]);
    assert_eq!(d.counts.negatives, jitgen_core::adapters::MAX_NEGATIVES_PER_COMMAND);
}

#[test]
fn confusion_pairs_only_for_look_alike_commands() {
    let d = build(&fixture());
    let confusion: Vec<_> = all_pairs(&d).into_iter().filter(|p| p.kind == PairKind::Confusion).collect();
    let commands: BTreeSet<&str> = confusion.iter().map(|p| p.command.as_str()).collect();
    // create_event and list_events share "calendar"; get_weather names create_event in an
    // antipattern; set_timer resembles nothing.
    assert_eq!(commands, BTreeSet::from(["create_event", "get_weather", "list_events"]));
    assert_eq!(d.counts.confusion, 3);
    let p = confusion.iter().find(|p| p.command == "create_event").unwrap();
    assert_eq!(p.user, "schedule dentist tomorrow at 9am", "the primary example");
    assert_eq!(p.output.name.as_deref(), Some("create_event"));
    assert_eq!(p.output.arguments["when"], json!("2026-01-19T08:00:00Z"));
}

#[test]
fn shared_name_tokens_make_commands_confusable_but_generic_verbs_do_not() {
    let cmd = |name: &str| {
        json!({
            "command_name": name, "description": "", "parameters": [],
            "examples": [{"voice_command": format!("{name} please"), "expected_parameters": {}}]
        })
    };
    let kinds = |cmds: Value| build(&cmds).counts.confusion;
    assert_eq!(kinds(json!([cmd("start_timer"), cmd("stopTimer")])), 2);
    assert_eq!(kinds(json!([cmd("get_weather"), cmd("get_time")])), 0);
}

#[test]
fn counts_add_up() {
    let d = build(&fixture());
    let c = d.counts;
    assert_eq!(c.positives + c.negatives + c.confusion, c.train + c.holdout);
    assert_eq!(c.train, d.train.len());
    assert_eq!(c.holdout, d.holdout.len());
    assert_eq!(c.train + c.holdout, 8 + 3 + 3);
}

#[test]
fn empty_command_list_gives_an_empty_dataset() {
    let d = build(&json!([]));
    assert_eq!(d.counts.train + d.counts.holdout, 0);
    assert!(d.to_jsonl().is_empty());
}

// ---------------------------------------------------------------- limits

#[test]
fn more_than_2000_pairs_is_refused_with_the_count() {
    let mut cmds = bulk(100, 20);
    assert_eq!(build(&cmds).counts.positives, MAX_PAIRS);
    if let Value::Array(list) = &mut cmds {
        list.push(json!({
            "command_name": "zzz_extra", "description": "", "parameters": [],
            "examples": [{"voice_command": "one more", "expected_parameters": {}}]
        }));
    }
    match assemble("node-1", "m", &cmds, &DatasetParams::default(), &ctx()) {
        Err(AssembleError::TooManyPairs { count, limit }) => {
            assert_eq!((count, limit), (2001, 2000));
        }
        other => panic!("expected TooManyPairs, got {other:?}"),
    }
}

#[test]
fn negatives_and_confusion_count_towards_the_limit() {
    let mut cmds = bulk(100, 20);
    cmds[0]["antipatterns"] = json!([{"command_name": "none", "description": "not a bulk thing"}]);
    let err = assemble("node-1", "m", &cmds, &DatasetParams::default(), &ctx()).unwrap_err();
    assert!(matches!(err, AssembleError::TooManyPairs { count: 2001, limit: 2000 }));
    assert_eq!(err.code(), "too_many_pairs");
    assert_eq!(err.detail(), r#"{"count":2001,"error":"too_many_pairs","limit":2000}"#);
}

// ---------------------------------------------------------------- holdout

#[test]
fn holdout_is_about_ten_percent_and_deterministic() {
    let cmds = bulk(25, 20);
    let a = build(&cmds);
    let b = build(&cmds);
    assert_eq!(a.counts.train + a.counts.holdout, 500);
    let share = a.counts.holdout as f64 / 500.0;
    assert!((0.05..=0.15).contains(&share), "holdout share {share}");
    assert_eq!(a.holdout, b.holdout);
    assert_eq!(a.train, b.train);
    // The rule is recomputable from the pairs alone.
    for (side, p) in a.pairs() {
        assert_eq!(side == Split::Holdout, holdout_key(&p.user) % 10 == 0, "{}", p.user);
    }
}

#[test]
fn holdout_and_train_are_disjoint() {
    for cmds in [fixture(), bulk(25, 20), bulk(3, 7)] {
        let d = build(&cmds);
        let train_users: BTreeSet<&str> = d.train.iter().map(|p| p.user.as_str()).collect();
        assert!(d.holdout.iter().all(|p| !train_users.contains(p.user.as_str())));
        assert!(d.holdout.iter().all(|p| !d.train.contains(p)));
    }
}

#[test]
fn confusion_copy_shares_the_side_of_its_positive() {
    let d = build(&fixture());
    for (side, p) in d.pairs().filter(|(_, p)| p.kind == PairKind::Confusion) {
        let twin = d.pairs().find(|(_, q)| q.kind == PairKind::Positive && q.user == p.user).unwrap();
        assert_eq!(side, twin.0);
    }
}

/// Utterances whose keys miss the 10 % bucket, to exercise the at-least-one rule.
fn unlucky_utterances(n: usize) -> Vec<String> {
    (0..).map(|i| format!("say {i}")).filter(|u| holdout_key(u) % 10 != 0).take(n).collect()
}

fn one_command(utterances: &[String]) -> Value {
    json!([{
        "command_name": "say", "description": "", "parameters": [],
        "examples": utterances.iter().map(|u| json!({"voice_command": u, "expected_parameters": {}})).collect::<Vec<_>>()
    }])
}

#[test]
fn at_least_one_holdout_pair_from_ten_pairs_on() {
    let ten = unlucky_utterances(10);
    let d = build(&one_command(&ten));
    assert_eq!(d.counts.holdout, 1);
    let min = ten.iter().min_by_key(|u| holdout_key(u)).unwrap();
    assert_eq!(&d.holdout[0].user, min, "the smallest key is held out");

    let nine = unlucky_utterances(9);
    assert_eq!(build(&one_command(&nine)).counts.holdout, 0);
}

// ---------------------------------------------------------------- hash

#[test]
fn same_input_gives_byte_identical_output() {
    let a = build(&fixture());
    let b = build(&fixture());
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    assert_eq!(a.to_jsonl(), b.to_jsonl());
    assert_eq!(a.dataset_hash.len(), 64);
    assert!(a.dataset_hash.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(a.dataset_hash, a.recompute_hash());
}

#[test]
fn command_order_and_envelope_do_not_change_the_hash() {
    let a = build(&fixture());
    let mut reversed = fixture();
    if let Value::Array(list) = &mut reversed {
        list.reverse();
    }
    assert_eq!(build(&reversed).dataset_hash, a.dataset_hash);
    assert_eq!(build(&json!({"commands": fixture()})).dataset_hash, a.dataset_hash);
    assert_eq!(build(&json!({"command_schema": reversed})).dataset_hash, a.dataset_hash);
}

#[test]
fn hash_depends_on_model_params_date_and_content_but_not_node() {
    let base = build(&fixture()).dataset_hash;
    let with = |node: &str, model: &str, params: DatasetParams, ctx: DateContext, cmds: Value| {
        assemble(node, model, &cmds, &params, &ctx).unwrap().dataset_hash
    };
    let p = DatasetParams::default;
    assert_eq!(with("other-node", "qwen2.5-3b", p(), ctx(), fixture()), base);
    assert_ne!(with("node-1", "llama-3.2-3b", p(), ctx(), fixture()), base);
    assert_ne!(with("node-1", "qwen2.5-3b", DatasetParams { r: 8, ..p() }, ctx(), fixture()), base);
    assert_ne!(with("node-1", "qwen2.5-3b", DatasetParams { epochs: 4, ..p() }, ctx(), fixture()), base);
    assert_ne!(with("node-1", "qwen2.5-3b", p(), ctx_on("2026-01-19"), fixture()), base);
    assert_ne!(with("node-1", "qwen2.5-3b", p(), DateContext::new(date("2026-01-18"), "UTC"), fixture()), base);
    let mut edited = fixture();
    edited[1]["examples"][0]["voice_command"] = json!("start a five minute timer");
    assert_ne!(with("node-1", "qwen2.5-3b", p(), ctx(), edited), base);
    // Target modules are a set.
    let shuffled = DatasetParams {
        target_modules: vec!["o_proj".into(), "q_proj".into(), "v_proj".into(), "k_proj".into(), "q_proj".into()],
        ..p()
    };
    assert_eq!(with("node-1", "qwen2.5-3b", shuffled, ctx(), fixture()), base);
}

#[test]
fn dataset_round_trips_through_json() {
    let d = build(&fixture());
    let text = serde_json::to_string(&d).unwrap();
    let back: Dataset = serde_json::from_str(&text).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.recompute_hash(), d.dataset_hash);
    let v: Value = serde_json::from_str(&text).unwrap();
    for key in ["node_id", "base_model_id", "params", "date_context", "train", "holdout", "dataset_hash", "counts"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["date_context"], json!({"today": "2026-01-18", "timezone": "Europe/Paris"}));
    assert_eq!(
        v["params"],
        json!({"r": 16, "alpha": 32, "dropout": 0.05, "epochs": 3, "max_seq_len": 512,
               "target_modules": ["k_proj", "o_proj", "q_proj", "v_proj"]})
    );
}

#[test]
fn jsonl_lines_are_pairs_with_their_split() {
    let d = build(&bulk(5, 10));
    let all = d.to_jsonl();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), d.train.len() + d.holdout.len());
    for ((side, pair), line) in d.pairs().zip(&lines) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["split"], json!(side.as_str()));
        assert_eq!(v["system"], json!(d.system));
        assert_eq!(v["user"], json!(pair.user));
        assert_eq!(v["target"], json!(pair.output.to_target_text()));
        assert_eq!(v["tool"], json!(pair.output.name));
        assert_eq!(v["arguments"], Value::Object(pair.output.arguments.clone()));
        assert_eq!(v["required"], json!(pair.required));
        assert_eq!(v["kind"], json!(pair.kind.as_str()));
        if pair.kind == PairKind::Negative {
            assert!(pair.required.is_empty(), "negatives are not checked for required parameters");
        }
    }
    assert_eq!(d.split_jsonl(Split::Train).lines().count(), d.train.len());
    assert_eq!(d.split_jsonl(Split::Holdout).lines().count(), d.holdout.len());
    let first: Value = serde_json::from_str(d.split_jsonl(Split::Train).lines().next().unwrap()).unwrap();
    assert_eq!(first["user"], json!(d.train[0].user));
}

// ---------------------------------------------------------------- invalid input


#[test]
fn invalid_payload_reports_the_seed_error_body() {
    let err = assemble("node-1", "m", &common::seed_004_invalid_payload(), &DatasetParams::default(), &ctx()).unwrap_err();
    let AssembleError::Invalid(report) = &err else { panic!("expected Invalid, got {err:?}") };
    let codes: Vec<Code> = report.details().iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::MissingField, Code::InvalidType, Code::TooFewExamples]);
    assert_eq!(err.code(), "invalid_schema");
    assert_eq!(err.detail(), common::SEED_004_INVALID_BODY);
}

#[test]
fn other_invalid_payloads_are_invalid_too() {
    let run = |cmds: Value| assemble("n", "m", &cmds, &DatasetParams::default(), &ctx());
    let has = |r: Result<Dataset, AssembleError>, code: Code| match r {
        Err(AssembleError::Invalid(report)) => report.details().iter().any(|d| d.code == code),
        _ => false,
    };
    assert!(has(run(json!("not a list")), Code::InvalidType));
    assert!(has(run(json!({"nodes": []})), Code::MissingField));
    assert!(has(run(json!([seed_command("a"), seed_command("a")])), Code::DuplicateName));
    let mut c = seed_command("a");
    c["examples"][0]["expected_parameters"]["zip"] = json!("75001");
    assert!(has(run(json!([c])), Code::UnknownParameter));
    let mut c = seed_command("a");
    c["examples"][1]["is_primary"] = json!(true);
    assert!(has(run(json!([c])), Code::TooManyPrimaryExamples));
    let mut c = seed_command("a");
    c["antipatterns"] = json!([{"command_name": "b"}]);
    assert!(has(run(json!([c])), Code::MissingField));
}

#[test]
fn bad_arguments_and_params_are_refused() {
    let run = |node: &str, model: &str, params: DatasetParams| assemble(node, model, &fixture(), &params, &ctx());
    let field = |r: Result<Dataset, AssembleError>| match r {
        Err(AssembleError::InvalidArgument { field, .. }) => field,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    let p = DatasetParams::default;
    assert_eq!(field(run("", "m", p())), "node_id");
    assert_eq!(field(run("n", "  ", p())), "base_model_id");
    assert_eq!(field(run("n", "m", DatasetParams { r: 0, ..p() })), "params.r");
    assert_eq!(field(run("n", "m", DatasetParams { dropout: f64::NAN, ..p() })), "params.dropout");
    assert_eq!(field(run("n", "m", DatasetParams { dropout: 1.0, ..p() })), "params.dropout");
    assert_eq!(field(run("n", "m", DatasetParams { epochs: 0, ..p() })), "params.epochs");
    assert_eq!(field(run("n", "m", DatasetParams { target_modules: vec![], ..p() })), "params.target_modules");
}

#[test]
fn params_from_json_take_defaults_and_aliases() {
    assert_eq!(DatasetParams::from_json(&json!({})).unwrap(), DatasetParams::default());
    assert_eq!(DatasetParams::from_json(&Value::Null).unwrap(), DatasetParams::default());
    let p = DatasetParams::from_json(&json!({"rank": 8, "lora_alpha": 16, "lora_dropout": 0.1, "epochs": 2})).unwrap();
    assert_eq!((p.r, p.alpha, p.dropout, p.epochs, p.max_seq_len), (8, 16, 0.1, 2, 512));
    assert_eq!(p.target_modules, vec!["q_proj", "k_proj", "v_proj", "o_proj"]);
    let err = DatasetParams::from_json(&json!({"batch_sise": 4})).unwrap_err();
    assert!(matches!(err, AssembleError::InvalidArgument { ref field, .. } if field == "params"), "{err:?}");
    assert!(DatasetParams::from_json(&json!({"r": -1})).is_err());
    assert!(DatasetParams::from_json(&json!({"dropout": 2.0})).is_err());
    assert!(DatasetParams::from_json(&json!([1])).is_err());
}

// ---------------------------------------------------------------- properties

static NAMES: [&str; 6] = ["get_weather", "set_timer", "stop_timer", "create_event", "a", "b"];
static PARAM_NAMES: [&str; 4] = ["when", "day", "city", "n"];
static TYPES: [&str; 8] = ["str", "date", "datetime", "int", "array<date>", "time", "bogus", "list"];
static PHRASES: [&str; 8] =
    ["tomorrow", "next friday", "in 3 days", "tomorrow at 9am", "x", "", "this monday", "2026-02-30"];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(&PHRASES[..]).prop_map(Value::from),
        "[a-z \\n\"]{0,8}".prop_map(Value::from),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn command_strategy() -> impl Strategy<Value = Value> {
    let param = (
        prop::sample::select(&PARAM_NAMES[..]),
        prop::sample::select(&TYPES[..]),
        any::<bool>(),
        prop::option::of(prop::collection::vec(leaf(), 0..3)),
    )
        .prop_map(|(name, ty, required, en)| {
            let mut p = json!({"name": name, "type": ty, "required": required});
            if let Some(en) = en {
                p["enum_values"] = Value::Array(en);
            }
            p
        });
    let example = (
        prop_oneof![prop::sample::select(&PHRASES[..]).prop_map(String::from), "[a-z ]{0,12}"],
        prop::collection::btree_map(prop::sample::select(&PARAM_NAMES[..]), leaf(), 0..3),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(u, params, primary)| {
            let mut e = json!({"voice_command": u, "expected_parameters": Value::Object(params.into_iter().map(|(k, v)| (k.to_string(), v)).collect())});
            if let Some(p) = primary {
                e["is_primary"] = json!(p);
            }
            e
        });
    let antipattern = (prop_oneof![prop::sample::select(&NAMES[..]), Just("missing")], "[a-z ]{0,10}")
        .prop_map(|(c, d)| json!({"command_name": c, "description": d}));
    (
        prop::sample::select(&NAMES[..]),
        prop::collection::vec(param, 0..3),
        prop::collection::vec(example, 0..4),
        prop::collection::vec(prop_oneof![Just("timer"), Just("weather"), Just("calendar")], 0..2),
        prop::collection::vec(antipattern, 0..7),
        prop::option::of(prop::sample::select(vec!["command_name", "parameters", "examples", "description"])),
    )
        .prop_map(|(name, params, examples, keywords, antipatterns, drop)| {
            let mut c = json!({
                "command_name": name, "description": format!("{name} things"),
                "parameters": params, "examples": examples, "keywords": keywords, "antipatterns": antipatterns
            });
            if let (Some(field), Value::Object(map)) = (drop, &mut c) {
                map.remove(field);
            }
            c
        })
}

fn command_list_strategy() -> impl Strategy<Value = Value> {
    prop::collection::vec(prop_oneof![4 => command_strategy(), 1 => any_json()], 0..6).prop_map(Value::Array)
}

static VALID_TYPES: [&str; 7] = ["str", "date", "datetime", "int", "array<date>", "time", "list"];
static UTTERANCES: [&str; 6] = ["tomorrow", "next friday", "in 3 days", "tomorrow at 9am", "x", "this monday"];

/// A value that fits `ty`; selector 255 stands for null ("not given").
fn value_for(ty: &str, sel: u8) -> Value {
    if sel == 255 {
        return Value::Null;
    }
    let phrase = PHRASES[usize::from(sel) % PHRASES.len()];
    match ty {
        "int" => json!(sel),
        "array<date>" => json!([phrase, "today"]),
        "list" => json!([sel]),
        _ => json!(phrase),
    }
}

/// A command that passes validation by construction.
fn valid_command(name: &'static str) -> impl Strategy<Value = Value> {
    let example = (
        prop_oneof![prop::sample::select(&UTTERANCES[..]).prop_map(String::from), "[a-z ]{1,12}"],
        prop::collection::vec(prop::option::of(any::<u8>()), PARAM_NAMES.len()),
    );
    let antipattern = (prop_oneof![prop::sample::select(&NAMES[..]), Just("missing")], "[a-z ]{0,10}")
        .prop_map(|(c, d)| json!({"command_name": c, "description": d}));
    (
        prop::sample::subsequence(PARAM_NAMES.to_vec(), 0..=PARAM_NAMES.len()),
        prop::collection::vec(prop::sample::select(&VALID_TYPES[..]), PARAM_NAMES.len()),
        prop::collection::vec(any::<bool>(), PARAM_NAMES.len()),
        prop::collection::vec(example, 1..6),
        prop::option::of(0usize..6),
        prop::collection::vec(prop_oneof![Just("timer"), Just("weather"), Just("calendar"), Just("x")], 0..3),
        prop::collection::vec(antipattern, 0..8),
    )
        .prop_map(move |(names, types, required, examples, primary, keywords, antipatterns)| {
            let params: Vec<(&str, &str, bool)> =
                names.iter().enumerate().map(|(i, n)| (*n, types[i], required[i])).collect();
            let examples: Vec<Value> = examples
                .into_iter()
                .enumerate()
                .map(|(i, (utterance, selectors))| {
                    let expected: serde_json::Map<String, Value> = params
                        .iter()
                        .zip(&selectors)
                        .filter_map(|((n, ty, _), sel)| sel.map(|s| (n.to_string(), value_for(ty, s))))
                        .collect();
                    json!({"voice_command": utterance, "expected_parameters": expected, "is_primary": primary == Some(i)})
                })
                .collect();
            json!({
                "command_name": name,
                "description": format!("{name} things"),
                "parameters": params.iter().map(|(n, t, r)| json!({"name": n, "type": t, "required": r})).collect::<Vec<_>>(),
                "examples": examples,
                "keywords": keywords,
                "rules": ["be brief"],
                "antipatterns": antipatterns,
            })
        })
}

/// A valid list in random order, corrupted one time in five; the flag says whether it was.
fn valid_list_strategy() -> impl Strategy<Value = (Value, bool)> {
    let list = prop::sample::subsequence(NAMES.to_vec(), 0..=NAMES.len())
        .prop_flat_map(|names| names.into_iter().map(valid_command).collect::<Vec<_>>())
        .prop_shuffle();
    (list, prop::option::weighted(0.2, (any::<prop::sample::Index>(), 0u8..4)), any_json()).prop_map(
        |(mut list, corruption, garbage)| {
            let Some((index, how)) = corruption else { return (Value::Array(list), false) };
            if list.is_empty() {
                list.push(garbage);
                return (Value::Array(list), true);
            }
            let i = index.index(list.len());
            match how {
                0 => {
                    if let Value::Object(m) = &mut list[i] {
                        m.remove("examples");
                    }
                }
                1 => list[i]["description"] = json!(42),
                2 => {
                    let copy = list[i].clone();
                    list.push(copy);
                }
                _ => list.push(garbage),
            }
            (Value::Array(list), true)
        },
    )
}

fn outcome(r: &Result<Dataset, AssembleError>) -> String {
    match r {
        Ok(d) => serde_json::to_string(d).unwrap_or_default(),
        Err(e) => format!("{}|{}", e.code(), e.detail()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mixed_lists_never_panic_and_give_the_same_outcome_twice(cmds in command_list_strategy()) {
        let a = assemble("n", "m", &cmds, &DatasetParams::default(), &ctx());
        let b = assemble("n", "m", &cmds.clone(), &DatasetParams::default(), &ctx());
        prop_assert_eq!(outcome(&a), outcome(&b));
    }

    #[test]
    fn hash_is_a_function_of_input((cmds, corrupted) in valid_list_strategy(), today in 0i64..20_000) {
        let today = date("1990-01-01").add_days(today).unwrap();
        let ctx = DateContext::new(today, "UTC");
        let params = DatasetParams::default();
        let a = assemble("n", "m", &cmds, &params, &ctx);
        let b = assemble("n", "m", &cmds.clone(), &params, &ctx);
        prop_assert_eq!(outcome(&a), outcome(&b));
        if !corrupted {
            prop_assert!(a.is_ok(), "a list valid by construction was refused: {:?}", a.as_ref().err());
        }
        if let Ok(d) = &a {
            prop_assert_eq!(&d.recompute_hash(), &d.dataset_hash);
            let c = d.counts;
            prop_assert_eq!(c.positives + c.negatives + c.confusion, c.train + c.holdout);
            prop_assert!(c.train + c.holdout <= MAX_PAIRS);
            if c.train + c.holdout >= 10 {
                prop_assert!(c.holdout >= 1);
            }
            let train_users: BTreeSet<&str> = d.train.iter().map(|p| p.user.as_str()).collect();
            prop_assert!(d.holdout.iter().all(|p| !train_users.contains(p.user.as_str())));
            // Command order does not matter.
            let mut reversed = cmds.clone();
            if let Value::Array(list) = &mut reversed { list.reverse(); }
            let r = assemble("n", "m", &reversed, &params, &ctx);
            prop_assert_eq!(r.map(|d| d.dataset_hash).ok(), Some(d.dataset_hash.clone()));
            // The base model is part of the identity.
            let other = assemble("n", "m2", &cmds, &params, &ctx);
            prop_assert_ne!(other.map(|d| d.dataset_hash).ok(), Some(d.dataset_hash.clone()));
        }
    }

    #[test]
    fn arbitrary_json_never_panics(doc in any_json()) {
        let _ = assemble("n", "m", &doc, &DatasetParams::default(), &ctx());
        let _ = system_prompt(&doc, &ctx());
    }

    #[test]
    fn date_phrases_never_panic(text in "\\PC{0,40}", today in 0i64..3_652_058) {
        let today = date("0001-01-01").add_days(today).unwrap();
        let _ = render_relative_dates(&text, &DateContext::new(today, "UTC"));
    }

    #[test]
    fn weekday_rules_hold_on_every_day(today in 0i64..3_652_000, wd in 0usize..7) {
        let today = date("0001-01-08").add_days(today).unwrap();
        let names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
        let next = resolve_relative(&format!("next {}", names[wd]), today);
        let last = resolve_relative(&format!("last {}", names[wd]), today);
        let this = resolve_relative(&format!("this {}", names[wd]), today);
        let in_range = |r: Option<jitgen_core::adapters::Resolved>, lo: i64, hi: i64| match r {
            Some(r) => (lo..=hi).any(|k| today.add_days(k) == Some(r.date)) && r.date.weekday().to_monday_zero_offset() as usize == wd,
            None => true, // past year 9999
        };
        prop_assert!(in_range(next, 1, 7));
        prop_assert!(in_range(last, -7, -1));
        let monday = today.add_days(-i64::from(today.weekday().to_monday_zero_offset())).unwrap();
        prop_assert_eq!(this.map(|r| r.date), monday.add_days(wd as i64));
    }
}
