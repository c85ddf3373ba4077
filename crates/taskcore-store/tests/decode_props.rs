//! Property tests: decoding arbitrary or damaged bytes as any stored value is an error or a
//! value, never a panic and never an allocation the bytes cannot justify.

use proptest::prelude::*;
use taskcore_core::{
    Command, CreateTask, IdempotencyRecord, Json, MemRecords, Outcome, PeriodicTask, Priority,
    Proposal, Task, TaskState, Timestamp, UserRef,
};
use taskcore_store::codec::{decode, encode};

/// The encodings of a real task and of a real log payload, to damage.
fn samples() -> Vec<Vec<u8>> {
    let mut state = TaskState::new();
    let mut rec = MemRecords::default();
    let create = Command::Create(CreateTask {
        task_id: "task_abcdefabcdef".into(),
        brand: 1,
        brand_name: Some("Humari".into()),
        created_by: UserRef {
            id: 1,
            username: "martin".into(),
        },
        task_type: "data_export".into(),
        priority: Priority::High,
        description: "Exporter les données".into(),
        context_data: Json(serde_json::json!({"pages": [1, 2, 3], "deep": {"a": [null, true]}})),
        scheduled_for: None,
        max_retries: 3,
        timeout_minutes: 60,
        periodic_task: None,
        idempotency: None,
    });
    let proposal = Proposal {
        at: Timestamp(1_734_700_000_000_000),
        cmd: create,
    };
    let Ok(Outcome::Created(task)) = state.apply(&proposal, &mut rec) else {
        panic!("created")
    };
    vec![encode(&task).unwrap(), encode(&vec![proposal]).unwrap()]
}

fn decode_everything(bytes: &[u8]) {
    let _ = decode::<Task>(bytes);
    let _ = decode::<Vec<Proposal>>(bytes);
    let _ = decode::<IdempotencyRecord>(bytes);
    let _ = decode::<PeriodicTask>(bytes);
    let _ = decode::<Vec<(Vec<u8>, Vec<u8>)>>(bytes);
    let _ = decode::<String>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
        // With the format byte in front, the decoder gets past it and into the value.
        bytes.insert(0, 1);
        decode_everything(&bytes);
    }

    #[test]
    fn damaged_real_values_never_panic(
        which in 0usize..2,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = samples().swap_remove(which);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        decode_everything(&bytes);
        let keep = cut.index(bytes.len() + 1);
        decode_everything(&bytes[..keep]);
    }
}
