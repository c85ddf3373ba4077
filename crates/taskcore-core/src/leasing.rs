//! Which pending tasks a lease takes: by priority, brands taking turns within a priority, oldest
//! first within a brand, none scheduled for later.

use std::collections::HashSet;
use std::ops::Bound;

use crate::{BrandId, Index, TaskId, Timestamp};

impl Index {
    /// Picks up to `max` leasable tasks at `at` of the given types (empty: any). `turns` holds,
    /// per priority, the brand served last; it moves on with every pick, so that one brand's
    /// backlog cannot starve another's. Deterministic: it reads only the index and `turns`.
    pub fn pick_leasable(
        &self,
        at: Timestamp,
        types: &[String],
        max: usize,
        turns: &mut [BrandId; 4],
    ) -> Vec<TaskId> {
        let allowed: Option<Vec<bool>> = (!types.is_empty()).then(|| {
            let mut allowed = vec![false; self.type_count()];
            for id in types.iter().filter_map(|t| self.type_id(t)) {
                allowed[id as usize] = true;
            }
            allowed
        });
        let mut picked = Vec::new();
        let mut taken = HashSet::new();
        for p in (0..4).rev() {
            let queues = &self.global.ready[p];
            while picked.len() < max {
                let last = turns[p];
                let after = queues.range((Bound::Excluded(last), Bound::Unbounded));
                let mut served_one = false;
                for (&brand, by_type) in after.chain(queues.range(..=last)) {
                    if picked.len() >= max {
                        break;
                    }
                    // The brand's oldest due task among the allowed types' queues: each queue
                    // is read from its head, never through another type's backlog.
                    let next = by_type
                        .iter()
                        .filter(|(ty, _)| {
                            allowed
                                .as_ref()
                                .is_none_or(|a| a.get(**ty as usize) == Some(&true))
                        })
                        .filter_map(|(_, queue)| {
                            queue
                                .iter()
                                .take_while(|(key, _)| *key <= at.0)
                                .find(|(_, id)| !taken.contains(id))
                                .copied()
                        })
                        .min()
                        .map(|(_, id)| id);
                    if let Some(id) = next {
                        picked.push(id);
                        taken.insert(id);
                        turns[p] = brand;
                        served_one = true;
                    }
                }
                if !served_one {
                    break;
                }
            }
        }
        picked
    }

    /// When the next task scheduled for later than `at` becomes leasable, if any: a long poll
    /// sleeps until then rather than polling.
    pub fn next_due_after(&self, at: Timestamp) -> Option<Timestamp> {
        self.global
            .ready
            .iter()
            .flat_map(|queues| queues.values())
            .flat_map(|by_type| by_type.values())
            .filter_map(|queue| {
                queue
                    .range((Bound::Excluded((at.0, TaskId::MAX)), Bound::Unbounded))
                    .next()
            })
            .map(|&(key, _)| Timestamp(key))
            .min()
    }
}
