//! Validation of periodic-task bodies: create (POST), full update (PUT) and partial update
//! (PATCH), every bad field reported at once.

use serde_json::{Map, Value};

use super::{
    Fields, TaskTypes, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MINUTES, MAX_CONTEXT_BYTES,
    MAX_RETRIES, REQUIRED, TIMEOUT_RANGE,
};
use crate::schedule::{parse_tz, Compiled, Schedule, MAX_INTERVAL_SECONDS};
use crate::{FieldErrors, Json, PeriodicPatch, PeriodicSpec, Priority};

/// Longest periodic-task name.
pub const MAX_NAME_CHARS: usize = 200;

/// Which request a body comes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// POST: `name`, `task_type` and `schedule` required, defaults elsewhere.
    Create,
    /// PUT: the same requirements; absent writable fields return to their defaults.
    Replace,
    /// PATCH: only what is present changes.
    Patch,
}

const SCHEDULE_SHAPE: &str =
    "Must be an object with either \"cron\" (5 fields) or \"interval_seconds\".";

fn schedule(f: &mut Fields<'_>) -> Option<Schedule> {
    let value = f.get("schedule", false)?;
    let Some(obj) = value.as_object() else {
        f.errors.add("schedule", SCHEDULE_SHAPE);
        return None;
    };
    match (obj.get("cron"), obj.get("interval_seconds")) {
        (Some(Value::String(c)), None) => Some(Schedule::Cron(c.trim().to_owned())),
        (None, Some(n)) => match n.as_u64() {
            Some(n) if (1..=MAX_INTERVAL_SECONDS).contains(&n) => Some(Schedule::Interval(n)),
            _ => {
                f.errors.add(
                    "schedule",
                    format!(
                        "interval_seconds must be an integer from 1 to {MAX_INTERVAL_SECONDS}."
                    ),
                );
                None
            }
        },
        _ => {
            f.errors.add("schedule", SCHEDULE_SHAPE);
            None
        }
    }
}

fn name(f: &mut Fields<'_>) -> Option<String> {
    let s = f.string("name")?.trim();
    if s.is_empty() {
        f.errors.add("name", "This field may not be blank.");
        return None;
    }
    if s.chars().count() > MAX_NAME_CHARS {
        f.errors.add(
            "name",
            format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
        );
        return None;
    }
    Some(s.to_owned())
}

/// Validates a periodic-task body as a change; for `Create`, turn it into a spec with
/// [`spec_of`].
///
/// # Errors
/// Every bad field, at once.
pub fn parse_periodic(
    body: &Map<String, Value>,
    types: &TaskTypes,
    mode: Mode,
) -> Result<PeriodicPatch, FieldErrors> {
    let mut f = Fields::new(body);
    if mode != Mode::Patch {
        for required in ["name", "task_type", "schedule"] {
            if !body.contains_key(required) {
                f.errors.add(required, REQUIRED);
            }
        }
    }
    let timezone = f.string("timezone").and_then(|tz| match parse_tz(tz) {
        Ok(_) => Some(tz.to_owned()),
        Err(e) => {
            f.errors.add("timezone", e.to_string());
            None
        }
    });
    let schedule = schedule(&mut f);
    // A cron expression is checked by compiling it (in UTC when no zone came: zones change
    // times, not validity).
    if let Some(s @ Schedule::Cron(_)) = &schedule {
        let tz = parse_tz(timezone.as_deref().unwrap_or("UTC")).unwrap_or(chrono_tz::UTC);
        if let Err(e) = Compiled::new(s, tz) {
            f.errors.add("schedule", e.to_string());
        }
    }
    let mut patch = PeriodicPatch {
        name: name(&mut f),
        task_type: f.task_type(types),
        priority: f.priority("priority"),
        description: f.description(),
        context_data: f.object("context_data", MAX_CONTEXT_BYTES),
        max_retries: f.integer("max_retries", (0, MAX_RETRIES)),
        timeout_minutes: f.integer("timeout_minutes", TIMEOUT_RANGE),
        schedule,
        timezone,
        enabled: f.boolean("enabled"),
        start_at: f.datetime("start_at"),
        expires_at: f.datetime("expires_at"),
        one_off: f.boolean("one_off"),
    };
    if mode == Mode::Replace {
        patch.priority.get_or_insert(Priority::Normal);
        patch.description.get_or_insert_with(String::new);
        patch.context_data.get_or_insert_with(Json::empty_object);
        patch.max_retries.get_or_insert(DEFAULT_MAX_RETRIES);
        patch.timeout_minutes.get_or_insert(DEFAULT_TIMEOUT_MINUTES);
        patch.timezone.get_or_insert_with(|| "UTC".to_owned());
        patch.enabled.get_or_insert(true);
        patch.start_at.get_or_insert(None);
        patch.expires_at.get_or_insert(None);
        patch.one_off.get_or_insert(false);
    }
    f.errors.into_result(patch)
}

/// The spec of a validated creation body: absent fields take their defaults.
pub fn spec_of(patch: PeriodicPatch) -> PeriodicSpec {
    PeriodicSpec {
        name: patch.name.unwrap_or_default(),
        task_type: patch.task_type.unwrap_or_default(),
        priority: patch.priority.unwrap_or(Priority::Normal),
        description: patch.description.unwrap_or_default(),
        context_data: patch.context_data.unwrap_or_else(Json::empty_object),
        max_retries: patch.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        timeout_minutes: patch.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES),
        schedule: patch.schedule.unwrap_or(Schedule::Interval(3600)),
        timezone: patch.timezone.unwrap_or_else(|| "UTC".to_owned()),
        enabled: patch.enabled.unwrap_or(true),
        start_at: patch.start_at.flatten(),
        expires_at: patch.expires_at.flatten(),
        one_off: patch.one_off.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value, mode: Mode) -> Result<PeriodicPatch, FieldErrors> {
        parse_periodic(body.as_object().unwrap(), &TaskTypes::default(), mode)
    }

    fn errors(body: Value, mode: Mode) -> String {
        format!("{:?}", parse(body, mode).unwrap_err())
    }

    #[test]
    fn a_creation_needs_a_name_a_type_and_a_schedule() {
        let e = errors(json!({}), Mode::Create);
        for field in ["name", "task_type", "schedule"] {
            assert!(e.contains(field), "{e}");
        }
        let spec = spec_of(
            parse(
                json!({"name": " nightly ", "task_type": "data_export",
                       "schedule": {"cron": "0 2 * * *"}, "timezone": "Europe/Paris"}),
                Mode::Create,
            )
            .unwrap(),
        );
        assert_eq!(spec.name, "nightly");
        assert_eq!(spec.schedule, Schedule::Cron("0 2 * * *".into()));
        assert_eq!(
            (spec.enabled, spec.max_retries),
            (true, DEFAULT_MAX_RETRIES)
        );
        assert!(parse(json!({}), Mode::Patch).unwrap() == PeriodicPatch::default());
    }

    #[test]
    fn bad_schedules_zones_and_fields_are_listed_at_once() {
        let e = errors(
            json!({"name": "", "task_type": "nope", "schedule": {"cron": "61 * * * *"},
                   "timezone": "Mars/Base", "max_retries": 21, "start_at": "tomorrow"}),
            Mode::Create,
        );
        for field in [
            "name",
            "task_type",
            "schedule",
            "timezone",
            "max_retries",
            "start_at",
        ] {
            assert!(e.contains(field), "{field} in {e}");
        }
        for schedule in [
            json!("0 * * * *"),
            json!({}),
            json!({"cron": "* * * * *", "interval_seconds": 5}),
            json!({"interval_seconds": 0}),
            json!({"interval_seconds": "soon"}),
            json!({"cron": 5}),
        ] {
            let e = errors(json!({"schedule": schedule}), Mode::Patch);
            assert!(e.contains("schedule"), "{e}");
        }
    }

    #[test]
    fn a_replacement_returns_absent_fields_to_their_defaults() {
        let p = parse(
            json!({"name": "n", "task_type": "data_export", "schedule": {"interval_seconds": 60}}),
            Mode::Replace,
        )
        .unwrap();
        assert_eq!(p.enabled, Some(true));
        assert_eq!(p.start_at, Some(None));
        assert_eq!(p.timezone.as_deref(), Some("UTC"));
    }
}
