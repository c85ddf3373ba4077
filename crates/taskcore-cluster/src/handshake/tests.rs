use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::wire::read_frame;

const SECRET: &str = "a cluster secret of at least thirty-two bytes";

fn pair() -> (DuplexStream, DuplexStream) {
    duplex(4096)
}

/// A node of no cluster yet that knows `secret` (leaked: it outlives the joined futures).
fn node(secret: &str) -> &'static Credentials {
    Box::leak(Box::new(Credentials::new(secret)))
}

/// A node of cluster `id` that knows the shared secret.
fn member(id: u8) -> &'static Credentials {
    Box::leak(Box::new(Credentials {
        secret: SECRET.into(),
        identity: crate::identity::Identity::in_memory(Some([id; 16])),
        tls: None,
    }))
}

#[tokio::test]
async fn two_nodes_with_the_same_secret_complete_the_handshake() {
    let (mut a, mut b) = pair();
    let (dialled, listened) =
        tokio::join!(dial(&mut a, node(SECRET)), listen(&mut b, node(SECRET)));
    dialled.unwrap();
    listened.unwrap();
}

#[tokio::test]
async fn a_dialler_with_another_secret_is_refused_by_the_listener_proof_check() {
    let (mut a, mut b) = pair();
    let dialler = async move {
        let r = dial(&mut a, node("another secret")).await;
        drop(a);
        r
    };
    let (dialled, listened) = tokio::join!(dialler, listen(&mut b, node(SECRET)));
    // The dialler sees the listener cannot prove its secret, and hangs up before any proof.
    assert!(matches!(dialled, Err(WireError::Refused(_))), "{dialled:?}");
    assert!(matches!(listened, Err(WireError::Io(_))), "{listened:?}");
}

#[tokio::test]
async fn a_listener_that_does_not_know_the_secret_is_sent_nothing_but_a_nonce() {
    let (mut a, mut b) = pair();
    let impostor = async move {
        let hello: Greeting = read_frame(&mut b).await.unwrap();
        assert!(matches!(hello, Greeting::HelloWithCluster { .. }));
        let fake = GreetingReply::ChallengeWithCluster {
            nonce: [7; 32],
            cluster: None,
            proof: [0; 32],
        };
        write_frame(&mut b, &fake).await.unwrap();
        // Whatever comes next is all the impostor learns: nothing.
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        rest
    };
    let dialler = async move {
        let r = dial(&mut a, node(SECRET)).await;
        drop(a);
        r
    };
    let (dialled, learned) = tokio::join!(dialler, impostor);
    assert!(matches!(dialled, Err(WireError::Refused(_))), "{dialled:?}");
    assert!(
        learned.is_empty(),
        "the dialler sent {} more bytes",
        learned.len()
    );
}

#[tokio::test]
async fn a_recorded_proof_replayed_on_another_connection_is_refused() {
    // Record a genuine dialler's greeting and proof on a first connection.
    let (mut a, mut b) = pair();
    let recorder = async move {
        let hello: Greeting = read_frame(&mut b).await.unwrap();
        let Greeting::HelloWithCluster { nonce: a_nonce, .. } = hello else {
            panic!("{hello:?}")
        };
        let ours = [3; 32];
        let transcript = Transcript {
            dialler: a_nonce,
            listener: ours,
            dialler_cluster: None,
            listener_cluster: None,
        };
        let proof = transcript.tag(SECRET.as_bytes(), LISTENER);
        let challenge = GreetingReply::ChallengeWithCluster {
            nonce: ours,
            cluster: None,
            proof,
        };
        write_frame(&mut b, &challenge).await.unwrap();
        let proof: Greeting = read_frame(&mut b).await.unwrap();
        write_frame(&mut b, &GreetingReply::Welcome).await.unwrap();
        (a_nonce, proof)
    };
    let (dialled, (nonce, proof)) = tokio::join!(dial(&mut a, node(SECRET)), recorder);
    dialled.unwrap();
    // Replay both to a real listener: its fresh nonce makes the old proof worthless.
    let (mut c, mut d) = pair();
    let replay = async move {
        write_frame(
            &mut c,
            &Greeting::HelloWithCluster {
                protocol: PROTOCOL,
                nonce,
                cluster: None,
            },
        )
        .await
        .unwrap();
        let _challenge: GreetingReply = read_frame(&mut c).await.unwrap();
        write_frame(&mut c, &proof).await.unwrap();
        read_frame::<_, GreetingReply>(&mut c).await.unwrap()
    };
    let (answer, listened) = tokio::join!(replay, listen(&mut d, node(SECRET)));
    assert!(matches!(answer, GreetingReply::Refused(_)), "{answer:?}");
    assert!(matches!(listened, Err(WireError::Refused(_))));
}

#[tokio::test]
async fn an_old_node_sending_its_secret_is_told_to_upgrade() {
    let (mut a, mut b) = pair();
    let old = async move {
        let hello = Greeting::Legacy {
            secret: SECRET.into(),
        };
        write_frame(&mut a, &hello).await.unwrap();
        read_frame::<_, GreetingReply>(&mut a).await.unwrap()
    };
    let (answer, listened) = tokio::join!(old, listen(&mut b, node(SECRET)));
    let GreetingReply::Refused(why) = answer else {
        panic!("{answer:?}")
    };
    assert!(why.contains("upgrade"), "{why}");
    assert!(listened.is_err());
}

#[tokio::test]
async fn a_node_of_protocol_2_is_told_to_upgrade() {
    let (mut a, mut b) = pair();
    let old = async move {
        let hello = Greeting::Hello {
            protocol: 2,
            nonce: [1; 32],
        };
        write_frame(&mut a, &hello).await.unwrap();
        read_frame::<_, GreetingReply>(&mut a).await.unwrap()
    };
    let (answer, listened) = tokio::join!(old, listen(&mut b, member(1)));
    let GreetingReply::Refused(why) = answer else {
        panic!("{answer:?}")
    };
    assert!(
        why.contains("peer protocol 2") && why.contains("upgrade"),
        "{why}"
    );
    assert!(listened.is_err());
}

#[tokio::test]
async fn nodes_of_two_clusters_refuse_each_other_whoever_dials() {
    for (dialler, listener) in [(member(1), member(2)), (member(2), member(1))] {
        let (mut a, mut b) = pair();
        let dialling = async move {
            let r = dial(&mut a, dialler).await;
            drop(a);
            r
        };
        let (dialled, listened) = tokio::join!(dialling, listen(&mut b, listener));
        let Err(WireError::Refused(why)) = dialled else {
            panic!("{dialled:?}")
        };
        assert!(why.contains("belongs to cluster"), "{why}");
        assert!(listened.is_err(), "{listened:?}");
    }
    // Same cluster: welcome.
    let (mut a, mut b) = pair();
    let (dialled, listened) = tokio::join!(dial(&mut a, member(1)), listen(&mut b, member(1)));
    dialled.unwrap();
    listened.unwrap();
}

#[tokio::test]
async fn a_node_of_no_cluster_adopts_its_authenticated_peers_cluster_on_either_side() {
    // Listening (a learner dialled by the leader).
    let (mut a, mut b) = pair();
    let learner = node(SECRET);
    let (dialled, listened) = tokio::join!(dial(&mut a, member(4)), listen(&mut b, learner));
    dialled.unwrap();
    listened.unwrap();
    assert_eq!(learner.identity.get(), Some([4; 16]));
    // Dialling.
    let (mut a, mut b) = pair();
    let fresh = node(SECRET);
    let (dialled, listened) = tokio::join!(dial(&mut a, fresh), listen(&mut b, member(5)));
    dialled.unwrap();
    listened.unwrap();
    assert_eq!(fresh.identity.get(), Some([5; 16]));
    // A peer that fails its proof is never adopted from.
    let (mut a, mut b) = pair();
    let fresh = node(SECRET);
    let impostor = Credentials {
        secret: "another secret".into(),
        identity: crate::identity::Identity::in_memory(Some([6; 16])),
        tls: None,
    };
    let dialling = async move {
        let r = dial(&mut a, &impostor).await;
        drop(a);
        r
    };
    let (dialled, listened) = tokio::join!(dialling, listen(&mut b, fresh));
    assert!(dialled.is_err() && listened.is_err());
    assert_eq!(fresh.identity.get(), None);
}

#[tokio::test]
async fn a_greeting_that_claims_a_huge_length_is_refused_before_any_allocation() {
    let (mut a, mut b) = pair();
    // The 15 bytes that used to abort a node: a frame whose string claims 2^60 bytes.
    a.write_all(&[0, 0, 0, 0x0b, 1, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10])
        .await
        .unwrap();
    let err = listen(&mut b, node(SECRET)).await.unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)), "{err:?}");
    // A frame longer than the greeting cap is refused from its length alone.
    let (mut a, mut b) = pair();
    a.write_all(&(64 * 1024 * 1024u32).to_be_bytes())
        .await
        .unwrap();
    let err = listen(&mut b, node(SECRET)).await.unwrap_err();
    assert!(matches!(err, WireError::TooLarge(_)), "{err:?}");
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever a stranger sends first, the listener refuses or errs, and never welcomes.
        #[test]
        fn arbitrary_greetings_are_never_welcomed(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            run(async move {
                let (mut a, mut b) = duplex(8192);
                a.write_all(&bytes).await.unwrap();
                drop(a);
                assert!(listen(&mut b, node(SECRET)).await.is_err());
            });
        }

        /// Frames of arbitrary bytes decode as requests or fail cleanly.
        #[test]
        fn arbitrary_frames_decode_or_fail(body in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = crate::wire::decode_frame::<crate::wire::PeerRequest>(&body);
            let _ = crate::wire::decode_frame::<crate::wire::PeerResponse>(&body);
            let mut framed = (body.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&body);
            run(async move {
                let mut reader = &framed[..];
                let _ = read_frame::<_, crate::wire::PeerRequest>(&mut reader).await;
            });
        }
    }
}
