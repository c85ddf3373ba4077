//! What each command does.

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use taskcore_client::Client;
use taskcore_wire::{NewTask, RetryRequest, TaskBody, TaskPriority};

use crate::cli::{
    Cli, Command, CreateArgs, ListArgs, RetryArgs, StatsCommand, TasksCommand, TokenArgs,
};
use crate::table;

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "taskctl", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            return Ok(());
        }
        Command::Token(args) => {
            println!("{}", mint(&args)?);
            return Ok(());
        }
        Command::Node(cmd) => {
            let client = client(&cli.server, cli.ca_file.as_deref(), "")?;
            return crate::node::run(&client, cmd, cli.json).await;
        }
        _ => {}
    }
    let token = cli
        .token
        .clone()
        .context("no token: pass --token or set TASKCORE_TOKEN")?;
    let client = client(&cli.server, cli.ca_file.as_deref(), &token)?.with_brand(cli.brand);
    match cli.command {
        Command::Token(_) | Command::Node(_) | Command::Completions { .. } | Command::Man => Ok(()),
        Command::Backup { file } => {
            let bytes = client.backup().await?;
            let tmp = file.with_extension("partial");
            std::fs::write(&tmp, &bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::File::open(&tmp).and_then(|f| f.sync_all())?;
            std::fs::rename(&tmp, &file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!(
                "backup of {} bytes written to {}",
                bytes.len(),
                file.display()
            );
            Ok(())
        }
        Command::Tasks(cmd) => tasks(&client, cmd, cli.json).await,
        Command::Stats(cmd) => stats(&client, cmd, cli.json).await,
        Command::Cluster(cmd) => crate::cluster::run(&client, cmd, cli.json).await,
        Command::Periodic(cmd) => crate::periodic::run(&client, cmd, cli.json).await,
    }
}

/// A client of `--server`, trusting `--ca-file` when given.
fn client(server: &str, ca_file: Option<&std::path::Path>, token: &str) -> anyhow::Result<Client> {
    let plain = Client::new(server, token);
    let Some(path) = ca_file else {
        return Ok(plain);
    };
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the CA file {}", path.display()))?;
    plain
        .with_ca_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn mint(args: &TokenArgs) -> anyhow::Result<String> {
    let brands = args
        .brands
        .iter()
        .map(|b| {
            let (id, name) = b.split_once(':').context("--brand-claim takes ID:NAME")?;
            let id: u64 = id
                .trim()
                .parse()
                .context("a brand id is a positive integer")?;
            Ok(json!({"id": id, "name": name}))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for role in &args.roles {
        if role != "admin" && role != "worker" {
            bail!("a role is admin or worker, not {role}");
        }
    }
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "sub": args.user_id.to_string(), "username": args.username, "brands": brands,
        "roles": args.roles, "iat": now, "exp": now + args.ttl,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(args.secret.as_bytes());
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &key,
    )?)
}

pub(crate) fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(crate) fn priority(s: &str) -> anyhow::Result<TaskPriority> {
    serde_json::from_value(Value::String(s.to_owned()))
        .with_context(|| format!("a priority is low, normal, high or critical, not {s}"))
}

pub(crate) fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn task_rows(tasks: &[TaskBody]) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.task_id.clone(),
                t.task_type.clone(),
                enum_name(&t.status),
                enum_name(&t.priority),
                format!("{}%", t.progress_percentage),
                t.created_at.clone(),
            ]
        })
        .collect();
    table::render(
        &[
            "ID",
            "TASK_ID",
            "TYPE",
            "STATUS",
            "PRIORITY",
            "PROGRESS",
            "CREATED_AT",
        ],
        &rows,
    )
}

async fn tasks(client: &Client, cmd: TasksCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        TasksCommand::List(args) => list(client, args, as_json).await,
        TasksCommand::Get { id } => {
            let t = client.get_task(&id).await?;
            if as_json {
                return print_json(&t);
            }
            print!("{}", crate::detail::task(&t));
            Ok(())
        }
        TasksCommand::Create(args) => create(client, args, as_json).await,
        TasksCommand::CreateMany(args) => crate::bulk::create_many(client, args, as_json).await,
        TasksCommand::Cancel { id } => {
            let r = client.cancel_task(&id).await?;
            if as_json {
                return print_json(&r);
            }
            println!(
                "{} cancelled (was {}) at {}",
                r.task_id,
                enum_name(&r.previous_status),
                r.cancelled_at
            );
            Ok(())
        }
        TasksCommand::Retry(args) => retry(client, args, as_json).await,
        TasksCommand::Delete { id } => {
            client.delete_task(&id).await?;
            if as_json {
                return print_json(&json!({"deleted": id}));
            }
            println!("task {id} deleted");
            Ok(())
        }
    }
}

async fn list(client: &Client, a: ListArgs, as_json: bool) -> anyhow::Result<()> {
    let page = a.page.map(|p| p.to_string());
    let page_size = a.page_size.map(|p| p.to_string());
    let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    let (status, priorities, ordering) = (list(&a.status), list(&a.priority), list(&a.ordering));
    let pairs = [
        ("status", status.as_deref()),
        ("priority", priorities.as_deref()),
        ("task_type", a.task_type.as_deref()),
        ("search", a.search.as_deref()),
        ("ordering", ordering.as_deref()),
        ("page", page.as_deref()),
        ("page_size", page_size.as_deref()),
    ];
    let query: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    let page = client.list_tasks(&query).await?;
    if as_json {
        return print_json(&page);
    }
    println!("{}", task_rows(&page.results));
    println!(
        "({} of {} tasks{})",
        page.results.len(),
        page.count,
        if page.next.is_some() {
            "; more with --page"
        } else {
            ""
        }
    );
    Ok(())
}

async fn create(client: &Client, a: CreateArgs, as_json: bool) -> anyhow::Result<()> {
    let context_data = match a.context {
        Some(text) => Some(serde_json::from_str(&text).context("--context must be a JSON object")?),
        None => None,
    };
    let task = NewTask {
        task_type: a.task_type,
        priority: a.priority.as_deref().map(priority).transpose()?,
        description: a.description,
        context_data,
        scheduled_for: a.scheduled_for,
        max_retries: a.max_retries,
        timeout_minutes: a.timeout_minutes,
    };
    let t = client
        .create_task(&task, a.idempotency_key.as_deref())
        .await?;
    if as_json {
        return print_json(&t);
    }
    println!("{}", task_rows(std::slice::from_ref(&t)));
    Ok(())
}

async fn retry(client: &Client, a: RetryArgs, as_json: bool) -> anyhow::Result<()> {
    let options = RetryRequest {
        reset_progress: Some(!a.keep_progress),
        clear_errors: Some(!a.keep_errors),
        new_priority: a.priority.as_deref().map(priority).transpose()?,
    };
    let r = client.retry_task(&a.id, &options).await?;
    if as_json {
        return print_json(&r);
    }
    println!(
        "{} queued for retry ({}/{}), estimated start {}",
        r.task_id, r.retry_count, r.max_retries, r.estimated_start
    );
    Ok(())
}

async fn stats(client: &Client, cmd: StatsCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        StatsCommand::Queues => {
            let s = client.queue_stats().await?;
            if as_json {
                return print_json(&s);
            }
            let q = &s.queues;
            let a = &s.avg_processing_time_minutes;
            let row = |name: &str, c: &taskcore_wire::QueueCounts, avg: Option<f64>| {
                vec![
                    name.to_owned(),
                    c.pending.to_string(),
                    c.running.to_string(),
                    c.total_today.to_string(),
                    avg.map_or("-".into(), |m| format!("{m:.1}")),
                ]
            };
            let rows = vec![
                row("critical", &q.critical, a.critical),
                row("high", &q.high, a.high),
                row("normal", &q.normal, a.normal),
                row("low", &q.low, a.low),
            ];
            println!(
                "{}",
                table::render(&["QUEUE", "PENDING", "RUNNING", "TODAY", "AVG_MIN"], &rows)
            );
            let d = &s.status_distribution;
            println!(
                "total {}: pending {}, running {}, completed {}, failed {}, cancelled {}",
                s.total_tasks, d.pending, d.running, d.completed, d.failed, d.cancelled
            );
            Ok(())
        }
        StatsCommand::Types => {
            let s = client.type_stats().await?;
            if as_json {
                return print_json(&s);
            }
            let rows: Vec<Vec<String>> = s
                .task_types
                .iter()
                .map(|(name, t)| {
                    vec![
                        name.clone(),
                        t.total.to_string(),
                        t.completed.to_string(),
                        t.failed.to_string(),
                        t.avg_duration_minutes
                            .map_or("-".into(), |m| format!("{m:.1}")),
                        format!("{:.1}%", t.success_rate),
                    ]
                })
                .collect();
            println!(
                "{}",
                table::render(
                    &["TYPE", "TOTAL", "COMPLETED", "FAILED", "AVG_MIN", "SUCCESS"],
                    &rows
                )
            );
            Ok(())
        }
    }
}
