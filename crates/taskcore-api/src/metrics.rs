//! `/metrics` in the Prometheus text format: request counts and latencies per route, and the
//! node's Raft figures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Method, route template and status of a series: each from a fixed set (the standard methods
/// and `other`, the router's templates and `unmatched`, the statuses this edge answers), so that
/// no client can create series.
type SeriesKey = (&'static str, String, u16);

/// The method's label: one of the standard methods, else `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Counts and latencies of the requests served, by method, route and status.
#[derive(Clone, Default)]
pub struct RequestMetrics {
    series: Arc<Mutex<BTreeMap<SeriesKey, Series>>>,
}

impl RequestMetrics {
    fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = series
            .entry((method, route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        for (bucket, bound) in s.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP taskcore_http_requests_total Requests served.\n");
        out.push_str("# TYPE taskcore_http_requests_total counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "taskcore_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP taskcore_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE taskcore_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((method, route, _), s) in series.iter() {
            let r = by_route.entry((method, route)).or_default();
            r.count += s.count;
            r.sum_seconds += s.sum_seconds;
            for (a, b) in r.buckets.iter_mut().zip(s.buckets) {
                *a += b;
            }
        }
        for ((method, route), s) in by_route {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "taskcore_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "taskcore_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "taskcore_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "taskcore_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

/// Records every request under its route template (never the raw path, which would let
/// clients create series without bound).
pub async fn record(
    Extension(metrics): Extension<RequestMetrics>,
    req: Request,
    next: Next,
) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.record(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// `GET /metrics`.
pub async fn metrics(
    State(s): State<AppState>,
    Extension(requests): Extension<RequestMetrics>,
) -> impl IntoResponse {
    let mut out = String::new();
    let st = s.cluster.status();
    gauge(
        &mut out,
        "taskcore_raft_term",
        "Current Raft term.",
        st.term,
    );
    gauge(
        &mut out,
        "taskcore_raft_is_leader",
        "1 on the leader.",
        u8::from(st.state == "leader"),
    );
    gauge(
        &mut out,
        "taskcore_raft_leader_id",
        "The leader this node knows (0: none).",
        st.leader_id.unwrap_or(0),
    );
    gauge(
        &mut out,
        "taskcore_raft_last_log_index",
        "Last log index held.",
        st.last_log_index.unwrap_or(0),
    );
    gauge(
        &mut out,
        "taskcore_raft_last_applied_index",
        "Last log index applied.",
        st.last_applied.unwrap_or(0),
    );
    gauge(
        &mut out,
        "taskcore_raft_snapshot_index",
        "Last log index in the snapshot.",
        st.snapshot.unwrap_or(0),
    );
    gauge(
        &mut out,
        "taskcore_raft_voters",
        "Voting members.",
        st.voters.len(),
    );
    gauge(
        &mut out,
        "taskcore_ready",
        "1 when the node serves (see /readyz).",
        u8::from(s.cluster.is_ready()),
    );
    if let Some(replication) = &st.replication {
        out.push_str(
            "# HELP taskcore_raft_replication_lag Entries a member is behind the leader.\n",
        );
        out.push_str("# TYPE taskcore_raft_replication_lag gauge\n");
        for (id, m) in replication {
            let _ = writeln!(
                out,
                "taskcore_raft_replication_lag{{node=\"{id}\"}} {}",
                m.lag
            );
        }
    }
    let forwarded = s.cluster.forwarded();
    for (name, help, value) in [
        (
            "taskcore_forwarded_writes_total",
            "Writes this node forwarded to the leader.",
            forwarded.writes,
        ),
        (
            "taskcore_forwarded_requests_total",
            "Peer requests that carried them (writes forwarded together share one).",
            forwarded.requests,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let tasks = s.cluster.state_machine().read().index().len();
    gauge(
        &mut out,
        "taskcore_tasks",
        "Tasks in the replicated state.",
        tasks,
    );
    crate::exec_metrics::render(&s, &mut out);
    requests.render(&mut out);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
