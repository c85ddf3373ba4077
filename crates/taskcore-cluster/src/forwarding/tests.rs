//! A lane against a scripted leader: what each write hears when the leader answers, answers
//! wrongly, goes silent after reading, or cannot be reached.

use std::sync::atomic::AtomicUsize;

use tokio::net::TcpListener;

use super::*;
use crate::identity::Credentials;
use crate::peer_tls::PeerStream;
use crate::wire::{read_frame, write_frame};

const SECRET: &str = "a cluster secret of at least thirty-two bytes";

/// The write numbered `n`.
fn write(n: u64) -> Command {
    Command::Delete { id: n, brand: 1 }
}

/// The number of the write `cmd` is.
fn number(cmd: &Command) -> u64 {
    match cmd {
        Command::Delete { id, .. } => *id,
        _ => u64::MAX,
    }
}

/// How the scripted leader treats a request.
#[derive(Clone, Copy)]
enum Script {
    /// Answers each write with a refusal naming it.
    Answer,
    /// Answers with one answer too few.
    Short,
    /// Reads the request and closes the connection.
    Vanish,
}

/// A leader on loopback that serves every connection by `script`; counts requests and writes.
async fn leader(script: Script) -> (String, Arc<(AtomicUsize, AtomicUsize)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut stream = PeerStream::Plain(tcp);
                let me = Credentials::new(SECRET);
                if crate::handshake::listen(&mut stream, &me).await.is_err() {
                    return;
                }
                while let Ok(request) = read_frame::<_, PeerRequest>(&mut stream).await {
                    let cmds = match request {
                        PeerRequest::Forward(cmd) => vec![cmd],
                        PeerRequest::ForwardMany(cmds) => cmds,
                        _ => return,
                    };
                    seen.0.fetch_add(1, Ordering::SeqCst);
                    seen.1.fetch_add(cmds.len(), Ordering::SeqCst);
                    // Slow enough that the writes behind gather into the next request.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let mut answers: Vec<_> = cmds
                        .iter()
                        .map(|c| Err(ForwardError::Failed(number(c).to_string())))
                        .collect();
                    let response = match script {
                        Script::Vanish => return,
                        Script::Short => {
                            answers.pop();
                            PeerResponse::ForwardMany(answers)
                        }
                        Script::Answer if answers.len() == 1 => {
                            PeerResponse::Forward(answers.remove(0))
                        }
                        Script::Answer => PeerResponse::ForwardMany(answers),
                    };
                    if write_frame(&mut stream, &response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, counts)
}

/// `n` concurrent writes to `addr` through one forwarder; each one's number and answer.
async fn forward_all(forwarder: Arc<Forwarder>, addr: &str, n: u64) -> Vec<(u64, Answer)> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (forwarder, addr) = (forwarder.clone(), addr.to_owned());
            tokio::spawn(async move {
                let answer = forwarder
                    .forward(&addr, write(i), 16, Duration::from_secs(10))
                    .await;
                (i, answer)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

fn forwarder() -> Arc<Forwarder> {
    Arc::new(Forwarder::new(PeerClient::new(Credentials::new(SECRET))))
}

#[tokio::test]
async fn writes_gather_into_fewer_requests_and_each_hears_its_own_answer() {
    let (addr, seen) = leader(Script::Answer).await;
    let forwarder = forwarder();
    for (i, answer) in forward_all(forwarder.clone(), &addr, 200).await {
        match answer {
            Ok(Err(ForwardError::Failed(who))) => assert_eq!(who, i.to_string()),
            other => panic!("write {i}: {other:?}"),
        }
    }
    let (requests, writes) = (seen.0.load(Ordering::SeqCst), seen.1.load(Ordering::SeqCst));
    assert_eq!(writes, 200);
    assert!(requests < 50, "200 writes took {requests} requests");
    let sent = forwarder.forwarded();
    assert_eq!((sent.requests, sent.writes), (requests as u64, 200));
}

#[tokio::test]
async fn a_leader_that_reads_and_vanishes_leaves_every_write_unanswered() {
    let (addr, _) = leader(Script::Vanish).await;
    for (i, answer) in forward_all(forwarder(), &addr, 20).await {
        assert!(
            matches!(answer, Err(CallFailure::Unanswered(_))),
            "write {i}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn answers_that_do_not_match_the_writes_are_not_handed_out() {
    let (addr, _) = leader(Script::Short).await;
    for (i, answer) in forward_all(forwarder(), &addr, 20).await {
        assert!(
            matches!(answer, Err(CallFailure::Unexpected)),
            "write {i}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_leader_leaves_every_write_free_to_look_again() {
    // A port that was just free: nothing listens there.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    for (i, answer) in forward_all(forwarder(), &addr, 20).await {
        assert!(
            matches!(answer, Err(CallFailure::NotSent(_))),
            "write {i}: {answer:?}"
        );
    }
}
