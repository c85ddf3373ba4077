//! The `exec` handler's contract, without a server: input on stdin, the environment, progress
//! and checkpoint lines, the result line, failures with stderr, and no process outliving a
//! dropped attempt.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskcore_worker::{AttemptHandle, Exec, Handler, Job};

fn job(checkpoint: Option<Value>) -> Job {
    Job {
        id: 7,
        task_id: "task_abcdefabcdef".into(),
        task_type: "report_generation".into(),
        attempt: 2,
        context_data: json!({"pages": [1, 2, 3]}),
        checkpoint,
    }
}

#[tokio::test]
async fn the_command_reads_its_input_and_reports_progress_checkpoints_and_a_result() {
    let script = r#"
        input=$(cat)
        echo "progress 40"
        echo 'checkpoint {"page": 2}'
        echo "some log line"
        printf '{"input": %s, "task": "%s", "attempt": %s, "type": "%s", "resumed": %s, "env": %s}\n' \
            "$input" "$TASKCORE_TASK_ID" "$TASKCORE_ATTEMPT" "$TASKCORE_TASK_TYPE" \
            "$(cat "$TASKCORE_CHECKPOINT_FILE")" "${TASKCORE_CHECKPOINT:-null}"
    "#;
    let attempt = AttemptHandle::new();
    let job = job(Some(json!({"page": 1})));
    let result = Exec::new(script).run(&job, &attempt).await.unwrap();
    assert_eq!(
        result,
        json!({
            "input": {"pages": [1, 2, 3]},
            "task": "task_abcdefabcdef",
            "attempt": 2,
            "type": "report_generation",
            "resumed": {"page": 1},
            "env": {"page": 1},
        })
    );
    assert_eq!(attempt.reported_progress(), Some(40));
    assert_eq!(attempt.reported_checkpoint(), Some(json!({"page": 2})));
}

#[tokio::test]
async fn a_last_line_that_is_not_an_object_is_kept_as_output() {
    let attempt = AttemptHandle::new();
    let r = Exec::new("echo done").run(&job(None), &attempt).await;
    assert_eq!(r.unwrap(), json!({"output": "done"}));
    let r = Exec::new("true").run(&job(None), &attempt).await;
    assert_eq!(r.unwrap(), json!({}));
}

#[tokio::test]
async fn a_non_zero_exit_fails_with_the_tail_of_stderr() {
    let script = "head -c 5000 /dev/zero | tr '\\0' x >&2; echo ' disk full' >&2; exit 3";
    let err = Exec::new(script)
        .run(&job(None), &AttemptHandle::new())
        .await
        .unwrap_err();
    assert!(err.retryable);
    assert!(err
        .message
        .starts_with("the command failed: exit status 3: "));
    assert!(err.message.ends_with("xxx disk full"), "{}", err.message);
    assert!(err.message.len() < 2200, "only the tail is kept");
    let err = Exec::new("kill -9 $$")
        .run(&job(None), &AttemptHandle::new())
        .await
        .unwrap_err();
    assert!(
        err.message.contains("killed by a signal"),
        "{}",
        err.message
    );
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[tokio::test]
async fn dropping_an_attempt_kills_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let attempt = AttemptHandle::new();
    let job = job(None);
    let exec = Exec::new(&script);
    let run = exec.run(&job, &attempt);
    let started = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::pin!(run);
        loop {
            tokio::select! {
                _ = &mut run => panic!("the command ended by itself"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if let Ok(pid) = std::fs::read_to_string(&pidfile) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    return pid;
                }
            }
        }
    })
    .await
    .expect("the command starts its child");
    // The attempt's future is dropped here, as on a cancel or a lost lease.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(started) {
        assert!(
            Instant::now() < deadline,
            "the grandchild {started} survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_large_checkpoint_reaches_the_command_in_a_file() {
    // 250 KiB: within the API's 256 KiB, far over what an environment variable can carry.
    let big = json!({"page": 41, "seen": "s".repeat(250 * 1024)});
    let script = r#"
        [ -z "$TASKCORE_CHECKPOINT" ] || { echo "the large checkpoint is in the environment" >&2; exit 1; }
        stat -c '%a' "$TASKCORE_CHECKPOINT_FILE" > "$OUT.mode"
        cp "$TASKCORE_CHECKPOINT_FILE" "$OUT"
        echo "$TASKCORE_CHECKPOINT_FILE" > "$OUT.path"
        echo '{"ok": true}'
    "#;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seen.json");
    let script = format!("OUT={}; {script}", out.display());
    let result = Exec::new(&script)
        .run(&job(Some(big.clone())), &AttemptHandle::new())
        .await
        .unwrap();
    assert_eq!(result, json!({"ok": true}));
    let seen: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(seen, big);
    let mode = std::fs::read_to_string(dir.path().join("seen.json.mode")).unwrap();
    assert_eq!(mode.trim(), "600", "only the worker's user can read it");
    let path = std::fs::read_to_string(dir.path().join("seen.json.path")).unwrap();
    assert!(
        !std::path::Path::new(path.trim()).exists(),
        "the file is removed when the attempt ends"
    );
}
