use serde_json::{json, Value};

use super::*;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn errors(r: Result<impl std::fmt::Debug, FieldErrors>) -> BTreeMap<String, Vec<String>> {
    r.unwrap_err().0
}

#[test]
fn create_lists_every_bad_field_with_the_seed_messages() {
    let e = errors(parse_create(
        &obj(json!({"priority": "urgent"})),
        &TaskTypes::default(),
    ));
    assert_eq!(e["task_type"], vec!["Ce champ est requis"]);
    assert_eq!(
        e["priority"],
        vec!["Valeur invalide. Choix: low, normal, high, critical"]
    );
    assert_eq!(e.len(), 2);
}

#[test]
fn create_applies_defaults() {
    let f = parse_create(
        &obj(json!({"task_type": "data_export"})),
        &TaskTypes::default(),
    )
    .unwrap();
    assert_eq!(f.priority, Priority::Normal);
    assert_eq!(f.description, "");
    assert_eq!(f.context_data, Json::empty_object());
    assert_eq!((f.max_retries, f.timeout_minutes), (3, 60));
    assert_eq!(f.scheduled_for, None);
}

#[test]
fn create_checks_types_ranges_and_formats() {
    let body = json!({
        "task_type": "not_a_type",
        "description": "x".repeat(2001),
        "context_data": [1, 2],
        "scheduled_for": "tomorrow",
        "max_retries": 21,
        "timeout_minutes": 0,
    });
    let e = errors(parse_create(&obj(body), &TaskTypes::default()));
    assert!(e["task_type"][0].starts_with("Valeur invalide. Choix: seo_keyword_analysis"));
    assert_eq!(
        e["description"],
        vec!["Ensure this field has no more than 2000 characters."]
    );
    assert_eq!(e["context_data"], vec!["Must be a JSON object."]);
    assert_eq!(e["scheduled_for"], vec![BAD_DATETIME]);
    assert_eq!(
        e["max_retries"],
        vec!["Ensure this value is less than or equal to 20."]
    );
    assert_eq!(
        e["timeout_minutes"],
        vec!["Ensure this value is greater than or equal to 1."]
    );
}

#[test]
fn integers_accept_drf_spellings_and_refuse_the_rest() {
    let types = TaskTypes::default();
    for ok in [json!(5), json!(5.0), json!("5")] {
        let f = parse_create(
            &obj(json!({"task_type": "data_export", "max_retries": ok})),
            &types,
        );
        assert_eq!(f.unwrap().max_retries, 5);
    }
    for bad in [
        json!(true),
        json!("five"),
        json!(2.5),
        json!([]),
        json!(null),
    ] {
        let r = parse_create(
            &obj(json!({"task_type": "data_export", "max_retries": bad})),
            &types,
        );
        assert!(errors(r).contains_key("max_retries"));
    }
    let huge = json!({"task_type": "data_export", "max_retries": 1e300});
    assert!(errors(parse_create(&obj(huge), &types)).contains_key("max_retries"));
    let big = json!({"task_type": "data_export", "max_retries": u64::MAX});
    assert!(errors(parse_create(&obj(big), &types)).contains_key("max_retries"));
}

#[test]
fn context_data_is_limited_to_64_kib() {
    let body = json!({"task_type": "data_export", "context_data": {"k": "x".repeat(70_000)}});
    let e = errors(parse_create(&obj(body), &TaskTypes::default()));
    assert_eq!(
        e["context_data"],
        vec!["Must be at most 65536 bytes when serialized."]
    );
}

#[test]
fn put_needs_task_type_and_resets_defaults() {
    let types = TaskTypes::default();
    let e = errors(parse_update(
        &obj(json!({"priority": "high"})),
        &types,
        true,
    ));
    assert_eq!(e["task_type"], vec![REQUIRED]);
    let u = parse_update(&obj(json!({"task_type": "data_export"})), &types, true).unwrap();
    assert_eq!(u.priority, Some(Priority::Normal));
    assert_eq!(u.scheduled_for, Some(None));
    assert!(!u.merge_context);
}

#[test]
fn patch_changes_only_what_is_sent() {
    let u = parse_update(
        &obj(json!({"description": "d"})),
        &TaskTypes::default(),
        false,
    )
    .unwrap();
    assert_eq!(u.description.as_deref(), Some("d"));
    assert_eq!(u.priority, None);
    assert_eq!(u.scheduled_for, None);
    assert!(u.merge_context);
    let u = parse_update(
        &obj(json!({"scheduled_for": null})),
        &TaskTypes::default(),
        false,
    );
    assert_eq!(u.unwrap().scheduled_for, Some(None));
}

#[test]
fn retry_options_default_to_true_and_validate() {
    let r = parse_retry(&Map::new()).unwrap();
    assert!(r.reset_progress && r.clear_errors && r.new_priority.is_none());
    let e = errors(parse_retry(&obj(
        json!({"reset_progress": "maybe", "new_priority": "top"}),
    )));
    assert_eq!(e.len(), 2);
}
