//! The README's `taskctl` commands work as written: each line of its taskctl block runs, in
//! order, against a real node (with the example ids replaced by real ones).

mod common;

use std::process::Command;

use common::{bin_dir, binary, token_with_roles, Node};

fn readme_taskctl_lines() -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## taskctl\n")
        .nth(1)
        .expect("the README has a taskctl section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a shell block");
    block
        .lines()
        .filter(|l| l.starts_with("taskctl "))
        .map(|l| l.split("  #").next().unwrap_or(l).trim().to_owned())
        .collect()
}

#[test]
fn every_taskctl_command_of_the_readme_runs() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("data"));
    let token = token_with_roles(&["admin"]);
    binary("taskctl");
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The README's `create-many` line reads tasks.json from where it runs.
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let tasks: Vec<_> = (0..1500)
        .map(|i| serde_json::json!({"task_type": "data_export", "description": format!("import {i}")}))
        .collect();
    std::fs::write(work.join("tasks.json"), serde_json::to_vec(&tasks).unwrap()).unwrap();
    let run = |line: &str| {
        let out = Command::new("bash")
            .args(["-c", line])
            .current_dir(&work)
            .env("PATH", &path)
            .env("TASKCORE_URL", &node.url)
            .env("TASKCORE_TOKEN", &token)
            .env("TASKCORE_BRAND", "9")
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "`{line}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lines = readme_taskctl_lines();
    assert!(lines.len() >= 10, "{lines:?}");
    let created = run("taskctl --json tasks create --type data_export");
    let task: serde_json::Value = serde_json::from_str(&created).expect("JSON");
    let (id, task_id) = (
        task["id"].to_string(),
        task["task_id"].as_str().unwrap().to_owned(),
    );
    let view = run(&format!("taskctl tasks get {task_id}"));
    assert!(
        view.starts_with(&format!("task             {task_id} (id {id})")),
        "{view}"
    );
    assert!(view.contains("\nstatus           pending\n"), "{view}");
    for line in lines {
        let line = line
            .replace("task_abc123def456", &task_id)
            .replace(" 12", &format!(" {id}"));
        run(&line);
    }
    // 1,500 tasks went in two requests, in order; run again, the keys create nothing twice.
    let count = |search: &str| {
        let page = run(&format!(
            "taskctl --json tasks list --search '{search}' --page-size 1"
        ));
        serde_json::from_str::<serde_json::Value>(&page).expect("JSON")["count"].clone()
    };
    assert_eq!(count("import"), 1500);
    let again = run("taskctl --json tasks create-many tasks.json --idempotency-key import-7");
    let again: serde_json::Value = serde_json::from_str(&again).expect("JSON");
    let ids: Vec<u64> = again
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 1500);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    assert_eq!(again[1499]["description"], "import 1499");
    assert_eq!(count("import"), 1500);
}

fn taskctl(args: &[&str]) -> std::process::Output {
    Command::new(binary("taskctl"))
        .args(args)
        .output()
        .expect("taskctl runs")
}

#[test]
fn completions_and_man_pages_are_printed_and_values_are_checked_locally() {
    for shell in ["bash", "zsh", "fish"] {
        let out = taskctl(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("tasks") && script.contains("periodic"),
            "{shell}"
        );
        assert!(
            script.contains("critical"),
            "{shell}: priorities are completed"
        );
    }
    let bash = taskctl(&["completions", "bash"]);
    let check = Command::new("bash")
        .args(["-n", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(&bash.stdout)?;
            child.wait()
        })
        .expect("bash -n runs");
    assert!(check.success(), "the bash script parses");
    let man = taskctl(&["man"]);
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH taskctl 1"));
    let node_man = Command::new(binary("taskcore"))
        .arg("man")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&node_man.stdout).contains(".TH taskcore 1"));
    // A value outside the contract's choices is refused before any request is sent.
    let bad = taskctl(&[
        "--server",
        "http://127.0.0.1:9",
        "tasks",
        "list",
        "--status",
        "pending,nope",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("possible values"));
}
