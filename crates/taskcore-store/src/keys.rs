//! Key layout of the state-machine tree. Numbers are big-endian so that byte order is numeric
//! order; a one-byte prefix separates the kinds of record, so that one sled batch can change
//! all of them atomically.

use taskcore_core::{BrandId, TaskId};

/// Prefix of task records: `t` + id.
pub const TASK: u8 = b't';
/// Prefix of idempotency keys: `k` + brand + key.
pub const IDEMPOTENCY: u8 = b'k';
/// Prefix of periodic tasks: `p` + id.
pub const PERIODIC: u8 = b'p';
/// Key of the periodic-task id counter.
pub const NEXT_PERIODIC_ID: &[u8] = b"m/next_periodic_id";
/// Key of the id counter.
pub const NEXT_ID: &[u8] = b"m/next_id";
/// Key of the brands served last by leases, one per priority.
pub const TURNS: &[u8] = b"m/turns";
/// Key of the latest proposal time applied.
pub const LAST_AT: &[u8] = b"m/last_at";

/// The key of a task record.
pub fn task(id: TaskId) -> [u8; 9] {
    let mut k = [TASK; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The key of a periodic task.
pub fn periodic(id: u64) -> [u8; 9] {
    let mut k = [PERIODIC; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The key of an idempotency record.
pub fn idempotency(brand: BrandId, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.push(IDEMPOTENCY);
    k.extend_from_slice(&brand.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// Splits an idempotency record's key into brand and key.
pub fn parse_idempotency(k: &[u8]) -> Option<(BrandId, String)> {
    let brand = BrandId::from_be_bytes(k.get(1..9)?.try_into().ok()?);
    let key = String::from_utf8(k.get(9..)?.to_vec()).ok()?;
    Some((brand, key))
}

/// Decodes a big-endian u64 value.
pub fn u64_value(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}
