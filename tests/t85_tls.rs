//! HTTPS on the client port: a node with a certificate signed by a cluster's own CA is reached
//! by `taskcore-client` and `taskctl` trusting that CA, refused by clients that do not, and
//! takes a new certificate on SIGHUP without a restart.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::task;
use common::pki::pki;
use common::{binary, token, Launch, Node};
use taskcore_client::Client;

fn install(dir: &Path, (ca, cert, key): &(String, String, String), name: &str) {
    std::fs::write(dir.join(format!("{name}-ca.pem")), ca).unwrap();
    // Written to temporary files and renamed, as a certificate manager would.
    std::fs::write(dir.join("cert.tmp"), cert).unwrap();
    std::fs::write(dir.join("key.tmp"), key).unwrap();
    std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
    std::fs::rename(dir.join("key.tmp"), dir.join("key.pem")).unwrap();
}

async fn reaches(url: &str, ca: &str) -> bool {
    let c = Client::new(url, &token(false))
        .with_brand(9)
        .with_ca_pem(ca.as_bytes())
        .unwrap();
    c.list_tasks(&[]).await.is_ok()
}

#[tokio::test]
async fn the_client_port_speaks_tls_with_a_cluster_ca_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let first = pki(work.path());
    install(dir.path(), &first, "first");
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            dir.path().join("cert.pem").display(),
            dir.path().join("key.pem").display()
        ),
    )
    .unwrap();
    let node = Node::spawn(Launch {
        config: Some(config),
        ..Launch::new(&dir.path().join("data"))
    });
    assert!(node.url.starts_with("https://127.0.0.1:"), "{}", node.url);
    let url = node.url.replace("127.0.0.1", "localhost");

    // Trusting the CA: served.
    let client = Client::new(&url, &token(false))
        .with_brand(9)
        .with_ca_pem(first.0.as_bytes())
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while !client.ready().await.unwrap_or(false) {
        assert!(Instant::now() < until, "the node became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created = client.create_task(&task("over TLS"), None).await.unwrap();
    assert_eq!(created.description, "over TLS");
    // Not trusting it, or speaking plain HTTP to it: refused.
    let stranger = Client::new(&url, &token(false)).with_brand(9);
    assert!(
        stranger.list_tasks(&[]).await.is_err(),
        "an unknown CA is refused"
    );
    let plain = Client::new(&url.replace("https://", "http://"), &token(false)).with_brand(9);
    assert!(
        plain.list_tasks(&[]).await.is_err(),
        "plain HTTP gets no answer"
    );
    // taskctl with --ca-file.
    let out = Command::new(binary("taskctl"))
        .args(["--server", &url, "--ca-file"])
        .arg(dir.path().join("first-ca.pem"))
        .args(["node", "ready"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A new certificate from another CA, then SIGHUP: new connections get it.
    let work = tempfile::tempdir().unwrap();
    let second = pki(work.path());
    install(dir.path(), &second, "second");
    node.signal(libc::SIGHUP);
    let until = Instant::now() + Duration::from_secs(10);
    while !reaches(&url, &second.0).await {
        assert!(
            Instant::now() < until,
            "the new certificate is served after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !reaches(&url, &first.0).await,
        "the old certificate is gone"
    );
}
