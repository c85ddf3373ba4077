//! Faults between hosts: three nodes in network namespaces, clients reaching every node while a
//! nemesis cuts the peer network (isolating a leader or a follower, flapping), pauses a leader
//! or kills one, with writers, readers, workers and a periodic task running throughout. Each
//! history is checked (see `common::history`): no acknowledged write lost, unique ids,
//! linearizable reads on every node (the cut-off one included), convergence, nothing served by
//! a minority, each job completed at most once without overlapping attempts and none left
//! running, each periodic due time fired once, and writes recovering on the majority.
//!
//! Needs root for `ip netns`; skipped with a message otherwise (an error under
//! `TASKCORE_REQUIRE_NETNS`, which CI sets). `TASKCORE_SOAK=<seconds>` stretches the flapping
//! test for release checks.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::{all_tasks, Cluster};
use common::history::{check, History};
use common::netns::skip;
use common::worker_token;
use common::workload::{attempt_violations, micros, registers, Workload, JOB};
use taskcore_client::Client;
use taskcore_wire::{PeriodicTaskRequest, ScheduleBody};
use tokio::time::{sleep, Instant};

/// Short Raft timing (heartbeat 50 ms, elections 300–600 ms), short leases.
const CONFIG: &str = "[raft]\nheartbeat_ms = 50\nelection_timeout_ms = [300, 600]\n\
    [execution]\nlease_ttl_ms = 2000\nretry_base_ms = 100\nretry_cap_ms = 500\n";
/// The most a fault may keep the majority from acknowledging a write.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// One fault test at a time: each runs three nodes and a dozen clients with election timeouts
/// of a few hundred milliseconds, which two cores shared five ways would not keep.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A three-node cluster in namespaces, and this test's turn; `None` (said) where namespaces
/// cannot be made.
async fn netns_cluster(test: &str) -> Option<(Cluster, tokio::sync::MutexGuard<'static, ()>)> {
    let turn = SERIAL.lock().await;
    match Cluster::start_in_netns(3, CONFIG).await {
        Ok(c) => Some((c, turn)),
        Err(why) => {
            skip(test, &why);
            None
        }
    }
}

/// A workload and a periodic task running on a cluster.
struct Run {
    workload: Workload,
    periodic: u64,
}

impl Run {
    async fn start(c: &Cluster) -> Run {
        let users = (0..c.nodes.len()).map(|i| c.client(i)).collect();
        let workers = (0..c.nodes.len())
            .map(|i| Client::new(&c.nodes[i].url, &worker_token()).with_brand(9))
            .collect();
        let req = PeriodicTaskRequest {
            name: Some("heartbeat".into()),
            task_type: Some("sitemap_generation".into()),
            schedule: Some(ScheduleBody {
                cron: None,
                interval_seconds: Some(1),
            }),
            ..Default::default()
        };
        let periodic = c.client(0).create_periodic(&req).await.unwrap().id;
        let workload = Workload::start(users, workers);
        // Some history before the fault.
        sleep(Duration::from_secs(2)).await;
        Run { workload, periodic }
    }

    fn history(&self) -> &History {
        &self.workload.history
    }

    /// Heals everything, stops the clients and checks the history and the nodes' states.
    async fn finish(self, c: &mut Cluster) {
        if let Some(net) = &c.net {
            net.heal_all();
        }
        // Some history after the heal.
        sleep(Duration::from_secs(2)).await;
        let history = self.workload.stop().await;
        for i in 0..c.nodes.len() {
            c.wait_ready(i).await;
        }
        let finals = converged(c).await;
        let events = history.events();
        let mut violations = check(&events, &history.minorities(), &finals);
        let tasks = all_tasks(&c.client(0)).await;
        violations.extend(attempt_violations(&tasks));
        violations.extend(periodic_violations(&tasks, self.periodic));
        violations.extend(stuck_jobs(c).await);
        violations.extend(history.server_errors());
        let recoveries = history.recoveries();
        eprintln!(
            "{} operations; recoveries after each fault: {recoveries:?}",
            events.len()
        );
        for (fault, took) in &recoveries {
            match took {
                Some(t) if *t <= RECOVERY_BOUND => {}
                _ => violations.push(format!("writes did not recover after {fault}: {took:?}")),
            }
        }
        let acked = events
            .iter()
            .filter(|e| matches!(e.res, common::history::Res::Ok(_)))
            .count();
        assert!(
            acked > 20,
            "the workload made progress ({acked} acknowledged)"
        );
        assert!(violations.is_empty(), "violations: {violations:#?}");
    }
}

/// The registers of every node once they agree (within 30 s).
async fn converged(c: &Cluster) -> Vec<BTreeMap<u64, u64>> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let mut finals = Vec::new();
        for i in 0..c.nodes.len() {
            finals.push(registers(&all_tasks(&c.client(i)).await));
        }
        if finals.windows(2).all(|w| w[0] == w[1]) || Instant::now() > until {
            return finals;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Jobs still running once every lease has run out (the workers have stopped).
async fn stuck_jobs(c: &Cluster) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let running: Vec<u64> = all_tasks(&c.client(0))
            .await
            .into_iter()
            .filter(|t| t.task_type == JOB && t.status == taskcore_wire::TaskStatus::Running)
            .map(|t| t.id)
            .collect();
        if running.is_empty() {
            return Vec::new();
        }
        if Instant::now() > until {
            return vec![format!(
                "jobs still running 15 s after the workers stopped: {running:?}"
            )];
        }
        sleep(Duration::from_millis(200)).await;
    }
}

/// Due times of the periodic task that fired more than once.
fn periodic_violations(tasks: &[taskcore_wire::TaskBody], periodic: u64) -> Vec<String> {
    let mut due: Vec<i64> = tasks
        .iter()
        .filter(|t| t.periodic_task == Some(periodic))
        .filter_map(|t| t.scheduled_for.as_deref().map(micros))
        .collect();
    let fired = due.len();
    due.sort_unstable();
    due.dedup();
    let mut out = Vec::new();
    if due.len() != fired {
        out.push(format!(
            "{} periodic due times fired twice",
            fired - due.len()
        ));
    }
    if fired == 0 {
        out.push("the periodic task never fired".into());
    }
    out
}

/// Cuts node `i` off its peers for `how_long`, recording the minority window.
async fn isolate(c: &Cluster, run: &Run, i: usize, how_long: Duration, what: &str) {
    let net = c.net.as_ref().expect("a netns cluster");
    let from = run.history().fault(what);
    net.cut(i);
    sleep(how_long).await;
    net.heal(i);
    run.history().minority(i, from);
}

#[tokio::test]
async fn isolating_the_leader_loses_nothing_and_the_majority_carries_on() {
    let Some((mut c, _turn)) = netns_cluster("isolating_the_leader").await else {
        return;
    };
    let run = Run::start(&c).await;
    let l = c.leader().await;
    let net = c.net.as_ref().expect("netns");
    let from = run.history().fault("isolate the leader");
    net.cut(l);
    // The cut-off leader stops calling itself ready once it hears no quorum.
    let until = Instant::now() + Duration::from_secs(5);
    while c.client(l).ready().await.unwrap_or(false) {
        assert!(
            Instant::now() < until,
            "the isolated leader still says it is ready"
        );
        sleep(Duration::from_millis(50)).await;
    }
    sleep(Duration::from_secs(5)).await;
    net.heal(l);
    run.history().minority(l, from);
    run.finish(&mut c).await;
}

#[tokio::test]
async fn isolating_a_follower_loses_nothing() {
    let Some((mut c, _turn)) = netns_cluster("isolating_a_follower").await else {
        return;
    };
    let run = Run::start(&c).await;
    let f = (c.leader().await + 1) % 3;
    isolate(&c, &run, f, Duration::from_secs(5), "isolate a follower").await;
    run.finish(&mut c).await;
}

#[tokio::test]
async fn flapping_partitions_lose_nothing() {
    let Some((mut c, _turn)) = netns_cluster("flapping_partitions").await else {
        return;
    };
    let soak: u64 = std::env::var("TASKCORE_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let run = Run::start(&c).await;
    let rounds = 6.max(soak / 2);
    for round in 0..rounds {
        // Alternate between the leader and a follower, so leaders are both lost and kept.
        let l = c.leader().await;
        let victim = if round % 2 == 0 {
            l
        } else {
            (l + 1 + round as usize / 2 % 2) % 3
        };
        isolate(&c, &run, victim, Duration::from_millis(1500), "flap").await;
        sleep(Duration::from_millis(500)).await;
    }
    run.finish(&mut c).await;
}

#[tokio::test]
async fn a_paused_leader_that_wakes_serves_nothing_stale() {
    let Some((mut c, _turn)) = netns_cluster("a_paused_leader").await else {
        return;
    };
    let run = Run::start(&c).await;
    let l = c.leader().await;
    let from = run.history().fault("pause the leader");
    c.nodes[l].signal(libc::SIGSTOP);
    sleep(Duration::from_secs(3)).await;
    c.nodes[l].signal(libc::SIGCONT);
    run.history().minority(l, from);
    run.finish(&mut c).await;
}

#[tokio::test]
async fn killing_and_restarting_the_leader_loses_nothing() {
    let Some((mut c, _turn)) = netns_cluster("killing_the_leader").await else {
        return;
    };
    let run = Run::start(&c).await;
    let l = c.leader().await;
    run.history().fault("kill the leader");
    c.nodes[l].kill9();
    sleep(Duration::from_secs(2)).await;
    c.nodes[l].restart();
    run.finish(&mut c).await;
}

#[tokio::test]
async fn a_follower_returning_from_isolation_does_not_depose_the_leader() {
    let Some((mut c, _turn)) = netns_cluster("a_returning_follower").await else {
        return;
    };
    let run = Run::start(&c).await;
    let l = c.leader().await;
    let before = c.admin_client(l).cluster_status().await.unwrap();
    let f = (l + 1) % 3;
    // Many election timeouts: without a pre-vote, the follower's term would climb all along
    // and its return would force the leader to step down.
    isolate(&c, &run, f, Duration::from_secs(4), "isolate a follower").await;
    c.wait_ready(f).await;
    let after = c.admin_client(l).cluster_status().await.unwrap();
    assert_eq!(after.state, "leader", "the leader still leads");
    assert_eq!(after.term, before.term, "no election happened");
    let returned = c.admin_client(f).cluster_status().await.unwrap();
    assert_eq!(
        returned.term, before.term,
        "the follower's term did not climb"
    );
    run.finish(&mut c).await;
}

#[tokio::test]
async fn a_leader_whose_disk_stalls_loses_nothing() {
    let Some((mut c, _turn)) = netns_cluster("a_stalled_disk").await else {
        return;
    };
    let run = Run::start(&c).await;
    let l = c.leader().await;
    let stall = c.sync_delay_file(l as u64 + 1);
    // Every sync of the leader now takes 3 s: its own log falls behind its followers'.
    run.history().fault("stall the leader's disk");
    std::fs::write(&stall, "3000").unwrap();
    sleep(Duration::from_secs(6)).await;
    std::fs::write(&stall, "0").unwrap();
    run.finish(&mut c).await;
}
