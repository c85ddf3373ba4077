//! Every validation rule of the contract's writable fields, field by field, so that one response
//! lists every bad field at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Json, Priority, Timestamp, UpdateTask};

/// Longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Largest `context_data`, serialized.
pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;
/// Largest `max_retries`.
pub const MAX_RETRIES: u32 = 20;
/// Default `max_retries`.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default `timeout_minutes`.
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
/// Allowed `timeout_minutes`.
pub const TIMEOUT_RANGE: (u32, u32) = (1, 1440);

/// The seed's message for a missing required field.
pub const REQUIRED: &str = "Ce champ est requis";
const NOT_NULL: &str = "This field may not be null.";
const NOT_STRING: &str = "Not a valid string.";
const NOT_INTEGER: &str = "A valid integer is required.";
const NOT_BOOLEAN: &str = "Must be a valid boolean.";
const NOT_OBJECT: &str = "Must be a JSON object.";
/// DRF's message for a date-time that does not parse.
pub const BAD_DATETIME: &str = "Datetime has wrong format. Use one of these formats instead: \
     YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// Field errors: field name → messages, in field-name order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Adds a message for a field.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A single error.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = FieldErrors::default();
        e.add(field, message);
        e
    }

    /// `Ok(value)` when empty, else `Err(self)`.
    ///
    /// # Errors
    /// The collected field errors when there are any.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

/// The seed's message for a value outside a choice list.
pub fn invalid_choice<S: AsRef<str>>(choices: &[S]) -> String {
    let list: Vec<&str> = choices.iter().map(AsRef::as_ref).collect();
    format!("Valeur invalide. Choix: {}", list.join(", "))
}

/// The configured task types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskTypes(pub Vec<String>);

impl Default for TaskTypes {
    /// The twelve task types of the seed.
    fn default() -> Self {
        TaskTypes(
            [
                "seo_keyword_analysis",
                "seo_competitor_analysis",
                "seo_content_audit",
                "ai_content_generation",
                "content_optimization",
                "meta_tags_generation",
                "website_structure_analysis",
                "page_performance_audit",
                "sitemap_generation",
                "data_export",
                "report_generation",
                "bulk_operations",
            ]
            .map(String::from)
            .to_vec(),
        )
    }
}

impl TaskTypes {
    /// Whether `name` is configured.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|t| t == name)
    }
}

/// The fields of a valid creation request.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTaskFields {
    /// Task type.
    pub task_type: String,
    /// Priority.
    pub priority: Priority,
    /// Description.
    pub description: String,
    /// Input object.
    pub context_data: Json,
    /// Not before.
    pub scheduled_for: Option<Timestamp>,
    /// Automatic retries allowed.
    pub max_retries: u32,
    /// Limit of one attempt.
    pub timeout_minutes: u32,
}

/// The options of a manual retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryOptions {
    /// Progress to 0, checkpoint dropped (default true).
    pub reset_progress: bool,
    /// `error_message` to null (default true).
    pub clear_errors: bool,
    /// A new priority.
    pub new_priority: Option<Priority>,
}

/// Reads one field of a body, recording an error when it is present but invalid.
pub(crate) struct Fields<'a> {
    body: &'a Map<String, Value>,
    pub(crate) errors: FieldErrors,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a Map<String, Value>) -> Self {
        Fields {
            body,
            errors: FieldErrors::default(),
        }
    }

    /// The field's value; `None` when absent. A `null` is an error unless `nullable`.
    pub(crate) fn get(&mut self, name: &str, nullable: bool) -> Option<&'a Value> {
        let value = self.body.get(name)?;
        if value.is_null() && !nullable {
            self.errors.add(name, NOT_NULL);
            return None;
        }
        Some(value)
    }

    pub(crate) fn string(&mut self, name: &str) -> Option<&'a str> {
        let value = self.get(name, false)?;
        let s = value.as_str();
        if s.is_none() {
            self.errors.add(name, NOT_STRING);
        }
        s
    }

    fn choice<T>(
        &mut self,
        name: &str,
        parse: fn(&str) -> Option<T>,
        choices: &[&str],
    ) -> Option<T> {
        let s = self.string(name)?;
        let parsed = parse(s);
        if parsed.is_none() {
            self.errors.add(name, invalid_choice(choices));
        }
        parsed
    }

    pub(crate) fn priority(&mut self, name: &str) -> Option<Priority> {
        self.choice(name, Priority::parse, &Priority::ALL.map(Priority::as_str))
    }

    pub(crate) fn task_type(&mut self, types: &TaskTypes) -> Option<String> {
        let s = self.string("task_type")?;
        if !types.contains(s) {
            self.errors.add("task_type", invalid_choice(&types.0));
            return None;
        }
        Some(s.to_owned())
    }

    pub(crate) fn description(&mut self) -> Option<String> {
        let s = self.string("description")?;
        if s.chars().count() > MAX_DESCRIPTION_CHARS {
            self.errors.add(
                "description",
                format!("Ensure this field has no more than {MAX_DESCRIPTION_CHARS} characters."),
            );
            return None;
        }
        Some(s.to_owned())
    }

    pub(crate) fn object(&mut self, name: &str, max_bytes: usize) -> Option<Json> {
        let value = self.get(name, false)?;
        if !value.is_object() {
            self.errors.add(name, NOT_OBJECT);
            return None;
        }
        check_object_size(name, value, max_bytes, &mut self.errors)
    }

    pub(crate) fn integer(&mut self, name: &str, (min, max): (u32, u32)) -> Option<u32> {
        let value = self.get(name, false)?;
        let n: Option<i128> = match value {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f.clamp(-1e30, 1e30) as i128)
                }),
            Value::String(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        let Some(n) = n else {
            self.errors.add(name, NOT_INTEGER);
            return None;
        };
        if n < i128::from(min) {
            self.errors.add(
                name,
                format!("Ensure this value is greater than or equal to {min}."),
            );
            return None;
        }
        if n > i128::from(max) {
            self.errors.add(
                name,
                format!("Ensure this value is less than or equal to {max}."),
            );
            return None;
        }
        u32::try_from(n).ok()
    }

    pub(crate) fn datetime(&mut self, name: &str) -> Option<Option<Timestamp>> {
        let value = self.get(name, true)?;
        if value.is_null() {
            return Some(None);
        }
        let parsed = value.as_str().and_then(Timestamp::parse_rfc3339);
        if parsed.is_none() {
            self.errors.add(name, BAD_DATETIME);
            return None;
        }
        Some(parsed)
    }

    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.get(name, false)?;
        let b = match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool(s),
            Value::Number(n) if n.as_u64() == Some(1) => Some(true),
            Value::Number(n) if n.as_u64() == Some(0) => Some(false),
            _ => None,
        };
        if b.is_none() {
            self.errors.add(name, NOT_BOOLEAN);
        }
        b
    }
}

/// Checks that a JSON object serializes to at most `max_bytes`.
pub fn check_object_size(
    name: &str,
    value: &Value,
    max_bytes: usize,
    errors: &mut FieldErrors,
) -> Option<Json> {
    let json = Json(value.clone());
    if json.encoded_len() > max_bytes {
        errors.add(
            name,
            format!("Must be at most {max_bytes} bytes when serialized."),
        );
        return None;
    }
    Some(json)
}

/// Parses the boolean spellings DRF accepts in query strings and bodies.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Validates a creation body.
///
/// # Errors
/// Every bad field, at once.
pub fn parse_create(
    body: &Map<String, Value>,
    types: &TaskTypes,
) -> Result<NewTaskFields, FieldErrors> {
    let mut f = Fields::new(body);
    if !body.contains_key("task_type") {
        f.errors.add("task_type", REQUIRED);
    }
    let task_type = f.task_type(types);
    let priority = f.priority("priority");
    let description = f.description();
    let context_data = f.object("context_data", MAX_CONTEXT_BYTES);
    let scheduled_for = f.datetime("scheduled_for");
    let max_retries = f.integer("max_retries", (0, MAX_RETRIES));
    let timeout_minutes = f.integer("timeout_minutes", TIMEOUT_RANGE);
    let fields = NewTaskFields {
        task_type: task_type.unwrap_or_default(),
        priority: priority.unwrap_or(Priority::Normal),
        description: description.unwrap_or_default(),
        context_data: context_data.unwrap_or_else(Json::empty_object),
        scheduled_for: scheduled_for.flatten(),
        max_retries: max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        timeout_minutes: timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES),
    };
    f.errors.into_result(fields)
}

/// Validates an update body: PATCH (`full = false`) or PUT (`full = true`, which needs
/// `task_type` and returns absent writable fields to their defaults). The returned command has
/// `id` and `brand` zero, for the caller to set.
///
/// # Errors
/// Every bad field, at once.
pub fn parse_update(
    body: &Map<String, Value>,
    types: &TaskTypes,
    full: bool,
) -> Result<UpdateTask, FieldErrors> {
    let mut f = Fields::new(body);
    if full && !body.contains_key("task_type") {
        f.errors.add("task_type", REQUIRED);
    }
    let mut u = UpdateTask {
        task_type: f.task_type(types),
        priority: f.priority("priority"),
        description: f.description(),
        context_data: f.object("context_data", MAX_CONTEXT_BYTES),
        merge_context: !full,
        scheduled_for: f.datetime("scheduled_for"),
        max_retries: f.integer("max_retries", (0, MAX_RETRIES)),
        timeout_minutes: f.integer("timeout_minutes", TIMEOUT_RANGE),
        ..UpdateTask::default()
    };
    if full {
        u.priority.get_or_insert(Priority::Normal);
        u.description.get_or_insert_with(String::new);
        u.context_data.get_or_insert_with(Json::empty_object);
        u.scheduled_for.get_or_insert(None);
        u.max_retries.get_or_insert(DEFAULT_MAX_RETRIES);
        u.timeout_minutes.get_or_insert(DEFAULT_TIMEOUT_MINUTES);
    }
    f.errors.into_result(u)
}

/// Validates a manual-retry body (every field optional).
///
/// # Errors
/// Every bad field, at once.
pub fn parse_retry(body: &Map<String, Value>) -> Result<RetryOptions, FieldErrors> {
    let mut f = Fields::new(body);
    let options = RetryOptions {
        reset_progress: f.boolean("reset_progress").unwrap_or(true),
        clear_errors: f.boolean("clear_errors").unwrap_or(true),
        new_priority: f.priority("new_priority"),
    };
    f.errors.into_result(options)
}

pub mod periodic;

#[cfg(test)]
mod tests;
