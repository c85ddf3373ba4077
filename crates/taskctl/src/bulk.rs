//! `taskctl tasks create-many`: tasks from a file, 1,000 per request.

use std::io::Read;

use anyhow::Context;
use taskcore_client::Client;
use taskcore_wire::{NewTask, TaskBody};

use crate::cli::CreateManyArgs;
use crate::commands::{print_json, task_rows};

/// The most tasks one `POST /tasks/bulk/` takes.
const PER_REQUEST: usize = 1000;

pub(crate) async fn create_many(
    client: &Client,
    a: CreateManyArgs,
    as_json: bool,
) -> anyhow::Result<()> {
    let text = if a.file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the tasks from standard input")?;
        text
    } else {
        std::fs::read_to_string(&a.file).with_context(|| format!("reading {}", a.file))?
    };
    let tasks = parse_tasks(&text)?;
    let mut created: Vec<TaskBody> = Vec::with_capacity(tasks.len());
    for (n, chunk) in tasks.chunks(PER_REQUEST).enumerate() {
        let key = a.idempotency_key.as_ref().map(|k| format!("{k}-{}", n + 1));
        let answer = client
            .create_tasks(chunk, key.as_deref())
            .await
            .with_context(|| {
                format!(
                    "request {} (tasks {} to {}); the {} before it were created",
                    n + 1,
                    n * PER_REQUEST + 1,
                    n * PER_REQUEST + chunk.len(),
                    created.len()
                )
            })?;
        created.extend(answer.results);
    }
    if as_json {
        return print_json(&created);
    }
    if created.len() <= 20 {
        println!("{}", task_rows(&created));
    } else if let (Some(first), Some(last)) = (created.first(), created.last()) {
        println!(
            "created {} tasks, ids {} to {}",
            created.len(),
            first.id,
            last.id
        );
    }
    Ok(())
}

/// A JSON array of tasks, `{"tasks": [...]}`, or one task object per line.
fn parse_tasks(text: &str) -> anyhow::Result<Vec<NewTask>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(text).context("the file is not a JSON array of tasks");
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(tasks) = v.get("tasks") {
            return serde_json::from_value(tasks.clone())
                .context("\"tasks\" is not a list of tasks");
        }
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).with_context(|| format!("line {}: not a task object", n + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_file_shapes_read_the_same() {
        let array = r#"[{"task_type": "a"}, {"task_type": "b", "priority": "high"}]"#;
        let wrapped = r#"{"tasks": [{"task_type": "a"}, {"task_type": "b", "priority": "high"}]}"#;
        let lines = "{\"task_type\": \"a\"}\n\n{\"task_type\": \"b\", \"priority\": \"high\"}\n";
        let expected = parse_tasks(array).ok();
        assert_eq!(expected.as_ref().map(Vec::len), Some(2));
        assert_eq!(parse_tasks(wrapped).ok(), expected);
        assert_eq!(parse_tasks(lines).ok(), expected);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse_tasks("{\"task_type\": \"a\"}\nnope\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
