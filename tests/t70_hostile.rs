//! A real node under hostile input from outside: raw bytes on the peer port, slow and made-up
//! HTTP. It stays up, keeps serving, and its memory and `/metrics` stay flat.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use taskcore_client::Client;

/// The 15 bytes that used to abort a node: a greeting whose string claims 2^60 bytes.
const HUGE_GREETING: [u8; 15] = [0, 0, 0, 0x0b, 1, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10];

fn metrics_len(url: &str) -> usize {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out.len()
}

/// A request with a 2 KB made-up method.
fn made_up_method(http: &str, i: usize) {
    let mut s = TcpStream::connect(http).unwrap();
    let method = format!("M{i:04}{}", "A".repeat(2000));
    let _ = write!(
        s,
        "{method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let _ = s.read_to_end(&mut Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_on_both_ports_leave_the_node_up_and_flat() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[http]\nheader_read_timeout_ms = 500\n").unwrap();
    let mut node = Node::spawn(Launch {
        config: Some(config),
        ..Launch::new(&dir.path().join("data"))
    });
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    wait_ready(&client).await;
    let raft = node.launch.raft_addr.clone();
    let http = node.url.trim_start_matches("http://").to_owned();
    // Every series the test touches is made once before the measure: later, only counts change.
    let new_task = taskcore_wire::NewTask {
        task_type: "data_export".into(),
        ..Default::default()
    };
    let warm = client.create_task(&new_task, None).await.unwrap();
    client.get_task(&warm.id.to_string()).await.unwrap();
    made_up_method(&http, 0);
    metrics_len(&node.url);
    let rss_before = node.rss_kib();
    let metrics_before = metrics_len(&node.url);

    // The peer port: the huge greeting, garbage, oversized frames, and silent connections.
    for _ in 0..20 {
        for bytes in [&HUGE_GREETING[..], b"GET / HTTP/1.1\r\n\r\n", &[0xff; 64]] {
            let mut s = TcpStream::connect(&raft).unwrap();
            let _ = s.write_all(bytes);
        }
    }
    let silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&raft).unwrap())
        .collect();
    // The client port: made-up methods (2 KB each) and heads that never end.
    for i in 1..200 {
        made_up_method(&http, i);
    }
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&http).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost:").unwrap();
            s
        })
        .collect();

    // Meanwhile the node serves (a fresh client: the first one's idle connection was closed
    // after the short header-read timeout this node runs with).
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let t = client.create_task(&new_task, None).await.unwrap();
    assert_eq!(client.get_task(&t.id.to_string()).await.unwrap().id, t.id);
    // The heads that never end are closed after the header-read timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    for s in &mut slow {
        s.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())))
            .unwrap();
        let mut buf = [0u8; 16];
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)) && Instant::now() < deadline,
            "a slow head was kept open"
        );
    }
    drop(silent);

    assert!(node.is_alive(), "the node died");
    let metrics_after = metrics_len(&node.url);
    assert!(
        metrics_after < metrics_before + 512,
        "/metrics grew from {metrics_before} to {metrics_after} bytes"
    );
    if let (Some(before), Some(after)) = (rss_before, node.rss_kib()) {
        assert!(
            after < before + 64 * 1024,
            "resident memory grew from {before} KiB to {after} KiB"
        );
    }
}
