//! A peer's frames after the handshake: a length, then a bincode body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskcore_cluster::wire::{decode_frame, read_frame, PeerRequest, PeerResponse};

fuzz_target!(|data: &[u8]| {
    let _ = decode_frame::<PeerRequest>(data);
    let _ = decode_frame::<PeerResponse>(data);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let mut reader = data;
        while let Ok(_) = read_frame::<_, PeerRequest>(&mut reader).await {}
    });
});
