//! What a stranger can send to the peer port before proving anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let _ = a.write_all(data).await;
        drop(a);
        let r = taskcore_cluster::handshake::listen(
            &mut b,
            &taskcore_cluster::identity::Credentials::new("a fuzzing secret of thirty-two bytes"),
        )
        .await;
        assert!(r.is_err(), "a stranger was welcomed");
    });
});
