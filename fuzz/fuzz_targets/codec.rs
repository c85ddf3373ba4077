//! Every value read back from disk or from a snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskcore_core::{IdempotencyRecord, PeriodicTask, Proposal, Task};
use taskcore_store::codec::decode;

fuzz_target!(|data: &[u8]| {
    let _ = decode::<Task>(data);
    let _ = decode::<Vec<Proposal>>(data);
    let _ = decode::<IdempotencyRecord>(data);
    let _ = decode::<PeriodicTask>(data);
    let _ = decode::<Vec<(Vec<u8>, Vec<u8>)>>(data);
});
