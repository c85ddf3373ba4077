//! Golden formats: what every replicated command, outcome, stored record and peer message looks
//! like in bytes, frozen in `tests/golden/`.
//!
//! bincode writes an enum variant as its position and a struct as its fields in order, without
//! names: a variant inserted in the middle of `Command` renumbers every later one, and a log
//! written by the previous release would replay as different commands. This test traces every
//! type that reaches a log, a disk or a peer (serde-reflection walks each enum through every
//! variant), encodes one value per variant with the codec the store uses, and compares
//! the format description and the bytes with the committed files. A change fails here; a change
//! that is meant (an appended variant, with the upgrade note it needs) is blessed with
//! `TASKCORE_BLESS_GOLDEN=1 cargo test -p taskcore-cluster --test golden_formats`, and the diff of
//! `tests/golden/` is the review.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_reflection::{Samples, Tracer, TracerConfig};
use taskcore_cluster::wire::{PeerRequest, PeerResponse};
use taskcore_cluster::{NodeAddr, TypeConfig};
use taskcore_core::{Batch, IdempotencyRecord, Outcome, PeriodicTask, Task};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The variant a value is, from its externally tagged JSON form (`Type` for a struct).
fn variant_of<T: Serialize>(type_name: &str, value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) if map.len() == 1 => {
            let key = map.keys().next().cloned().unwrap_or_default();
            format!("{type_name}::{key}")
        }
        Ok(serde_json::Value::String(unit)) => format!("{type_name}::{unit}"),
        _ => type_name.to_owned(),
    }
}

struct Golden {
    tracer: Tracer,
    samples: Samples,
    bytes: String,
}

impl Golden {
    fn new() -> Golden {
        // Strings trace as `null`, which is also valid JSON text for `Json` values.
        let config = TracerConfig::default()
            .default_string_value("null".to_owned())
            .default_borrowed_str_value("null");
        Golden {
            tracer: Tracer::new(config),
            samples: Samples::new(),
            bytes: String::new(),
        }
    }

    /// Traces `T` through all its variants; records each value's encoding and that it decodes
    /// back to the same bytes.
    fn add<T: Serialize + DeserializeOwned>(&mut self, type_name: &str) {
        let (_, values) = self
            .tracer
            .trace_type::<T>(&self.samples)
            .unwrap_or_else(|e| panic!("tracing {type_name}: {e}"));
        for value in values {
            let bytes = taskcore_store::codec::encode(&value).expect("encodes");
            let back: T = taskcore_store::codec::decode(&bytes).expect("decodes");
            let again = taskcore_store::codec::encode(&back).expect("encodes again");
            assert_eq!(bytes, again, "{type_name} round-trips");
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(self.bytes, "{} {hex}", variant_of(type_name, &value));
        }
    }
}

fn check(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("TASKCORE_BLESS_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, actual).expect("writes the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (bless with TASKCORE_BLESS_GOLDEN=1)",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .find(|(e, a)| e != a)
            .map(|(e, a)| format!("\n  was: {e}\n  now: {a}"))
            .unwrap_or_else(|| "\n  (lines added or removed)".to_owned());
        panic!(
            "{name} changed: what is already in logs, on disks and on the wire would decode \
             differently. Enums are append-only; fields are never reordered. If the change is \
             meant, bless it (TASKCORE_BLESS_GOLDEN=1) and write the upgrade note.{first}"
        );
    }
}

fn trace_everything() -> Golden {
    let mut g = Golden::new();
    // The Raft log: entries of batches of commands, and what applying them answers.
    g.add::<Batch>("Batch");
    g.add::<taskcore_core::Command>("Command");
    g.add::<Outcome>("Outcome");
    g.add::<taskcore_core::Refusal>("Refusal");
    g.add::<taskcore_core::AttemptOutcome>("AttemptOutcome");
    g.add::<taskcore_core::schedule::Schedule>("Schedule");
    g.add::<openraft::Entry<TypeConfig>>("Entry");
    g.add::<openraft::EntryPayload<TypeConfig>>("EntryPayload");
    // The log store's and state machine's meta records.
    g.add::<openraft::Vote<u64>>("Vote");
    g.add::<Option<openraft::LogId<u64>>>("LogId");
    g.add::<openraft::StoredMembership<u64, NodeAddr>>("StoredMembership");
    g.add::<openraft::SnapshotMeta<u64, NodeAddr>>("SnapshotMeta");
    // The state machine's records.
    g.add::<Task>("Task");
    g.add::<taskcore_core::Status>("Status");
    g.add::<taskcore_core::Priority>("Priority");
    g.add::<IdempotencyRecord>("IdempotencyRecord");
    g.add::<PeriodicTask>("PeriodicTask");
    // The peer handshake.
    g.add::<taskcore_cluster::handshake::Greeting>("Greeting");
    g.add::<taskcore_cluster::handshake::GreetingReply>("GreetingReply");
    // What peers send each other after the handshake.
    g.add::<PeerRequest>("PeerRequest");
    g.add::<PeerResponse>("PeerResponse");
    g.add::<taskcore_cluster::wire::AdminRequest>("AdminRequest");
    g.add::<openraft::raft::AppendEntriesResponse<u64>>("AppendEntriesResponse");

    g
}

#[test]
fn every_replicated_stored_and_peer_format_is_unchanged() {
    // `Result` is one name for many instantiations, so its `Err` side is never complete; it is
    // std's, and stable. Everything else must be traced through every variant.
    match trace_everything().tracer.registry() {
        Ok(_) => {}
        Err(serde_reflection::Error::MissingVariants(names)) => {
            assert_eq!(
                names,
                ["Result"],
                "every enum of ours is traced through all variants"
            );
        }
        Err(e) => panic!("tracing: {e}"),
    }
    let g = trace_everything();
    let registry = g.tracer.registry_unchecked();
    let formats = serde_json::to_string_pretty(&registry).expect("formats as JSON") + "\n";
    check("formats.json", &formats);
    check("bytes.txt", &g.bytes);
}

#[test]
fn the_check_notices_a_renumbered_variant() {
    // `Status::Running` encodes as its position: a reordered enum changes these bytes.
    let bytes = taskcore_store::codec::encode(&taskcore_core::Status::Running).expect("encodes");
    assert_eq!(bytes, [1, 1], "format byte, then the variant's position");
    let golden = std::fs::read_to_string(golden_dir().join("bytes.txt")).unwrap_or_default();
    if std::env::var_os("TASKCORE_BLESS_GOLDEN").is_none() {
        assert!(
            golden.lines().any(|l| l == "Status::Running 0101"),
            "the golden bytes hold Status::Running"
        );
    }
}
