//! Gathering what queued behind a first item into one batch, bounded in count and bytes: the
//! leader's batcher and a follower's forwarding lanes both send what waited as one unit.

use tokio::sync::mpsc;

/// Something waiting to be batched: its encoded size, and whether its caller still waits.
pub(crate) trait Queued {
    /// Encoded bytes.
    fn bytes(&self) -> usize;
    /// The caller gave up (its deadline passed while it waited): it is not sent, as it was
    /// told it may not be.
    fn abandoned(&self) -> bool;
}

/// `first` and what is queued behind it in `rx`, at most `max` items and `max_bytes` in all
/// (`first` alone always fits); the item that did not fit comes back to open the next batch.
/// Items whose caller gave up are left out. The batch may be empty (everyone gave up).
pub(crate) fn gather<T: Queued>(
    rx: &mut mpsc::Receiver<T>,
    first: T,
    max: usize,
    max_bytes: usize,
) -> (Vec<T>, Option<T>) {
    let mut bytes = first.bytes();
    let mut batch = vec![first];
    let mut carried = None;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(next) if next.abandoned() => {}
            Ok(next) if bytes + next.bytes() > max_bytes => {
                carried = Some(next);
                break;
            }
            Ok(next) => {
                bytes += next.bytes();
                batch.push(next);
            }
            Err(_) => break,
        }
    }
    batch.retain(|w| !w.abandoned());
    (batch, carried)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(usize, bool);

    impl Queued for Item {
        fn bytes(&self) -> usize {
            self.0
        }
        fn abandoned(&self) -> bool {
            self.1
        }
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_count_or_its_bytes_and_skips_the_abandoned() {
        let (tx, mut rx) = mpsc::channel(16);
        for item in [
            Item(1, false),
            Item(1, true),
            Item(1, false),
            Item(5, false),
        ] {
            tx.send(item).await.unwrap();
        }
        let (batch, carried) = gather(&mut rx, Item(2, false), 10, 6);
        // 2 + 1 + 1 bytes fit; the abandoned one is skipped; 5 more would pass 6.
        assert_eq!(batch.iter().map(|i| i.0).collect::<Vec<_>>(), [2, 1, 1]);
        assert_eq!(carried.map(|i| i.0), Some(5));

        tx.send(Item(1, false)).await.unwrap();
        tx.send(Item(1, false)).await.unwrap();
        let (batch, carried) = gather(&mut rx, Item(9, false), 2, 6);
        // A first item over the byte bound still goes, and nothing joins it.
        assert_eq!(batch.len(), 1);
        assert_eq!(carried.map(|i| i.0), Some(1));

        let (batch, carried) = gather(&mut rx, Item(1, true), 10, 6);
        assert!(batch.iter().all(|i| !i.1));
        assert!(carried.is_none());
    }
}
