//! Property tests: the parsers of what clients send (JSON bodies, cron expressions, time zones,
//! dates) answer every input with a value or an error, never a panic.

use proptest::prelude::*;
use serde_json::{Map, Value};
use taskcore_core::schedule::{parse_tz, Compiled, Schedule};
use taskcore_core::validate::periodic::{parse_periodic, Mode};
use taskcore_core::validate::{parse_create, parse_retry, parse_update};
use taskcore_core::{TaskTypes, Timestamp};

/// Arbitrary JSON, a few levels deep, with the contract's field names among the keys.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("0 9 * * MON"),
            Just("*/5 * * * *"),
            Just("Europe/Paris"),
            Just("2024-03-31T02:30:00+01:00"),
            Just("critical"),
            Just("data_export"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "task_type",
            "priority",
            "description",
            "context_data",
            "scheduled_for",
            "max_retries",
            "timeout_minutes",
            "name",
            "schedule",
            "cron",
            "interval_seconds",
            "timezone",
            "enabled",
            "reset_progress",
            "clear_errors",
            "new_priority",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), json(), 0..10).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn task_bodies_never_panic(body in object()) {
        let types = TaskTypes::default();
        let _ = parse_create(&body, &types);
        let _ = parse_update(&body, &types, false);
        let _ = parse_update(&body, &types, true);
        let _ = parse_retry(&body);
    }

    #[test]
    fn periodic_bodies_never_panic(body in object()) {
        let types = TaskTypes::default();
        for mode in [Mode::Create, Mode::Replace, Mode::Patch] {
            let _ = parse_periodic(&body, &types, mode);
        }
    }

    #[test]
    fn cron_expressions_and_zones_never_panic(
        expr in prop_oneof![
            "[0-9*/,\\- ]{0,40}",
            "[0-9A-Za-z*/,\\-? ]{0,40}",
            ".{0,60}",
        ],
        tz in prop_oneof![Just("UTC".to_owned()), Just("Europe/Paris".to_owned()), ".{0,30}"],
        at in any::<i64>(),
    ) {
        let _ = parse_tz(&tz);
        let zone = parse_tz("Europe/Paris").unwrap();
        if let Ok(c) = Compiled::new(&Schedule::Cron(expr), zone) {
            let at = Timestamp(at / 4);
            let _ = c.next_after(at, at);
        }
    }

    #[test]
    fn dates_never_panic(s in ".{0,40}") {
        let _ = Timestamp::parse_date_or_datetime(&s);
    }
}
