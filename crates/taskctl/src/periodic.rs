//! `taskctl periodic …`.

use anyhow::Context;
use serde_json::Value;
use taskcore_client::Client;
use taskcore_wire::{PeriodicTaskBody, PeriodicTaskRequest, ScheduleBody};

use crate::cli::{PeriodicCommand, PeriodicCreateArgs};
use crate::commands::{enum_name, print_json, priority};
use crate::table;

fn schedule(p: &PeriodicTaskBody) -> String {
    match (&p.schedule.cron, p.schedule.interval_seconds) {
        (Some(c), _) => format!("cron {c} ({})", p.timezone),
        (None, Some(n)) => format!("every {n}s"),
        (None, None) => String::new(),
    }
}

fn rows(list: &[PeriodicTaskBody]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.name.clone(),
                p.task_type.clone(),
                schedule(p),
                if p.enabled { "yes" } else { "no" }.into(),
                p.next_run_at.clone().unwrap_or_else(|| "-".into()),
                p.last_run_at.clone().unwrap_or_else(|| "-".into()),
                p.total_run_count.to_string(),
            ]
        })
        .collect();
    table::render(
        &[
            "ID", "NAME", "TYPE", "SCHEDULE", "ENABLED", "NEXT_RUN", "LAST_RUN", "RUNS",
        ],
        &rows,
    )
}

fn request(a: PeriodicCreateArgs) -> anyhow::Result<PeriodicTaskRequest> {
    let context_data = a
        .context
        .as_deref()
        .map(serde_json::from_str::<Value>)
        .transpose()
        .context("--context takes a JSON object")?;
    Ok(PeriodicTaskRequest {
        name: Some(a.name),
        task_type: Some(a.task_type),
        schedule: Some(ScheduleBody {
            cron: a.cron,
            interval_seconds: a.every,
        }),
        priority: a.priority.as_deref().map(priority).transpose()?,
        description: a.description,
        context_data,
        timezone: a.timezone,
        enabled: Some(!a.disabled),
        start_at: a.start_at,
        expires_at: a.expires_at,
        one_off: Some(a.one_off),
        ..Default::default()
    })
}

/// Runs a periodic-task command.
pub async fn run(client: &Client, cmd: PeriodicCommand, as_json: bool) -> anyhow::Result<()> {
    let enable = |on: bool| PeriodicTaskRequest {
        enabled: Some(on),
        ..Default::default()
    };
    let one = match cmd {
        PeriodicCommand::List => {
            let page = client.list_periodic(&[("page_size", "500")]).await?;
            if as_json {
                return print_json(&page);
            }
            println!("{}", rows(&page.results));
            return Ok(());
        }
        PeriodicCommand::Delete { id } => {
            client.delete_periodic(id).await?;
            println!("deleted periodic task {id}");
            return Ok(());
        }
        PeriodicCommand::RunNow { id } => {
            let task = client.run_periodic_now(id).await?;
            if as_json {
                return print_json(&task);
            }
            println!(
                "created task {} ({}, {})",
                task.id,
                task.task_id,
                enum_name(&task.status)
            );
            return Ok(());
        }
        PeriodicCommand::Get { id } => client.get_periodic(id).await?,
        PeriodicCommand::Create(a) => client.create_periodic(&request(a)?).await?,
        PeriodicCommand::Pause { id } => client.update_periodic(id, &enable(false)).await?,
        PeriodicCommand::Resume { id } => client.update_periodic(id, &enable(true)).await?,
    };
    if as_json {
        return print_json(&one);
    }
    println!("{}", rows(std::slice::from_ref(&one)));
    Ok(())
}
