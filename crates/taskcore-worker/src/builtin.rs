//! The built-in handlers and the `TYPE=SPEC` syntax of the command line.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{AttemptHandle, BoxFuture, Exec, Handler, HandlerError, Job};

/// Succeeds at once with an empty result.
#[derive(Clone, Copy, Debug, Default)]
pub struct Noop;

impl Handler for Noop {
    fn run<'a>(
        &'a self,
        _: &'a Job,
        _: &'a AttemptHandle,
    ) -> BoxFuture<'a, Result<Value, HandlerError>> {
        Box::pin(async { Ok(json!({})) })
    }
}

/// Sleeps, reporting progress in ten steps; resumes from its checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct Sleep {
    /// The whole sleep.
    pub total: Duration,
}

impl Handler for Sleep {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        attempt: &'a AttemptHandle,
    ) -> BoxFuture<'a, Result<Value, HandlerError>> {
        Box::pin(async move {
            let done = job
                .checkpoint
                .as_ref()
                .and_then(|c| c.get("step"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(10);
            for step in done + 1..=10 {
                tokio::time::sleep(self.total / 10).await;
                attempt.progress(step as u8 * 10);
                attempt.checkpoint(json!({ "step": step }));
            }
            Ok(json!({ "slept_ms": self.total.as_millis() as u64, "resumed_at_step": done }))
        })
    }
}

/// A handler specification that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid handler {0:?}: expected TYPE=noop, TYPE=sleep:MS or TYPE=exec:COMMAND")]
pub struct SpecError(pub String);

/// Parses `TYPE=noop`, `TYPE=sleep:MS` or `TYPE=exec:COMMAND` into the task type and its
/// handler.
///
/// # Errors
/// [`SpecError`] for anything else.
pub fn handler_from_spec(spec: &str) -> Result<(String, Arc<dyn Handler>), SpecError> {
    let bad = || SpecError(spec.to_owned());
    let (task_type, how) = spec.split_once('=').ok_or_else(bad)?;
    if task_type.trim().is_empty() {
        return Err(bad());
    }
    let handler: Arc<dyn Handler> = match how.split_once(':') {
        None if how == "noop" => Arc::new(Noop),
        Some(("sleep", ms)) => Arc::new(Sleep {
            total: Duration::from_millis(ms.parse().map_err(|_| bad())?),
        }),
        Some(("exec", command)) if !command.trim().is_empty() => Arc::new(Exec::new(command)),
        _ => return Err(bad()),
    };
    Ok((task_type.trim().to_owned(), handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_are_refused() {
        assert_eq!(handler_from_spec("a=noop").unwrap().0, "a");
        assert!(handler_from_spec("b=sleep:250").is_ok());
        assert!(handler_from_spec("c=exec:./run.sh --fast").is_ok());
        for bad in ["noop", "=noop", "a=sleep:x", "a=exec:", "a=fly", "a=sleep"] {
            assert!(handler_from_spec(bad).is_err(), "{bad}");
        }
    }
}
