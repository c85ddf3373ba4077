//! Filtering, searching, ordering and paginating a brand's tasks over the index.

use std::cmp::Ordering;

use crate::columns::{Columns, DEAD, HAS_METRICS, IS_RESUMABLE};
use crate::index::BrandIndex;
use crate::{BrandId, Index, Priority, Status, TaskId, Timestamp};

/// A field the list may be ordered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderField {
    /// `id`.
    Id,
    /// `created_at`.
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
    /// `started_at`.
    StartedAt,
    /// `completed_at`.
    CompletedAt,
    /// `scheduled_for`.
    ScheduledFor,
    /// `priority`, by rank.
    Priority,
    /// `status`, by lifecycle.
    Status,
    /// `task_type`, by name.
    TaskType,
    /// `progress_percentage`.
    Progress,
}

impl OrderField {
    /// The names accepted in `ordering`, in the contract's order.
    pub const NAMES: [&'static str; 10] = [
        "id",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "scheduled_for",
        "priority",
        "status",
        "task_type",
        "progress_percentage",
    ];

    /// Parses an ordering field name (without `-`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "id" => OrderField::Id,
            "created_at" => OrderField::CreatedAt,
            "updated_at" => OrderField::UpdatedAt,
            "started_at" => OrderField::StartedAt,
            "completed_at" => OrderField::CompletedAt,
            "scheduled_for" => OrderField::ScheduledFor,
            "priority" => OrderField::Priority,
            "status" => OrderField::Status,
            "task_type" => OrderField::TaskType,
            "progress_percentage" => OrderField::Progress,
            _ => return None,
        })
    }
}

/// One ordering key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderKey {
    /// The field.
    pub field: OrderField,
    /// Descending (`-field`).
    pub descending: bool,
}

/// A validated list query over one brand.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskQuery {
    /// The brand whose tasks are listed.
    pub brand: BrandId,
    /// Any of these statuses.
    pub statuses: Option<Vec<Status>>,
    /// Any of these priorities.
    pub priorities: Option<Vec<Priority>>,
    /// Any of these task types.
    pub task_types: Option<Vec<String>>,
    /// Task types starting with this text.
    pub task_type_prefix: Option<String>,
    /// `created_at >=`.
    pub created_after: Option<Timestamp>,
    /// `created_at <=`.
    pub created_before: Option<Timestamp>,
    /// TaskMetrics exist (or not).
    pub has_metrics: Option<bool>,
    /// A resumable PersistentJob exists (or not).
    pub is_resumable: Option<bool>,
    /// Lower-cased search terms, each of which must match.
    pub search: Vec<String>,
    /// Ordering keys; empty means `-created_at`.
    pub ordering: Vec<OrderKey>,
    /// Entries to skip.
    pub offset: usize,
    /// Entries to return at most.
    pub limit: usize,
}

impl TaskQuery {
    /// A query for every task of a brand, in the default order.
    pub fn all(brand: BrandId) -> Self {
        TaskQuery {
            brand,
            statuses: None,
            priorities: None,
            task_types: None,
            task_type_prefix: None,
            created_after: None,
            created_before: None,
            has_metrics: None,
            is_resumable: None,
            search: Vec::new(),
            ordering: Vec::new(),
            offset: 0,
            limit: usize::MAX,
        }
    }
}

/// One page of matching task ids and the total count of matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryPage {
    /// Matches in all.
    pub count: usize,
    /// The ids of the requested page, in order.
    pub ids: Vec<TaskId>,
}

/// A query compiled against the index: sets as bit masks, types as a table of interned ids.
struct Filter<'a> {
    statuses: u8,
    priorities: u8,
    types: Option<Vec<bool>>,
    /// Flag bits that must match `flag_values`.
    flag_mask: u8,
    flag_values: u8,
    search: &'a [String],
    created: (i64, i64),
}

impl Filter<'_> {
    /// Whether the counters alone answer the count (no filter beyond status and priority).
    fn counters_suffice(&self) -> bool {
        self.types.is_none()
            && self.flag_mask == 0
            && self.search.is_empty()
            && self.created == (i64::MIN, i64::MAX)
    }

    fn matches(&self, c: &Columns, slot: usize) -> bool {
        let status = c.status[slot];
        status != DEAD
            && self.statuses & (1 << status) != 0
            && self.priorities & (1 << c.priority[slot]) != 0
            && c.flags[slot] & self.flag_mask == self.flag_values
            && (self.created.0..=self.created.1).contains(&c.created[slot])
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.get(c.task_type[slot] as usize).copied().unwrap_or(false))
            && (self.search.is_empty() || matches_terms(&c.search[slot], self.search))
    }
}

/// Whether every term occurs in one of the NUL-separated fields. A term holds no NUL (such a
/// term matches nothing), so a match in the joined text lies within one field.
fn matches_terms(fields: &str, terms: &[String]) -> bool {
    terms
        .iter()
        .all(|term| !term.contains('\0') && fields.contains(term.as_str()))
}

/// Where a page starts and how long it is.
#[derive(Clone, Copy)]
struct Window {
    offset: usize,
    limit: usize,
}

impl Window {
    fn end(self) -> usize {
        self.offset.saturating_add(self.limit)
    }
}

impl Index {
    fn compile<'a>(&self, q: &'a TaskQuery) -> Filter<'a> {
        let mask = |bits: Option<Vec<usize>>, all: u8| {
            bits.map_or(all, |b| b.into_iter().fold(0u8, |m, i| m | (1 << i)))
        };
        let n_types = self.type_count();
        let mut types: Option<Vec<bool>> = None;
        if let Some(names) = &q.task_types {
            let mut allowed = vec![false; n_types];
            for id in names.iter().filter_map(|n| self.type_id(n)) {
                allowed[id as usize] = true;
            }
            types = Some(allowed);
        }
        if let Some(prefix) = &q.task_type_prefix {
            let mut allowed = types.unwrap_or_else(|| vec![true; n_types]);
            for (id, slot) in allowed.iter_mut().enumerate() {
                *slot = *slot && self.type_name(id as u32).starts_with(prefix.as_str());
            }
            types = Some(allowed);
        }
        let mut flag_mask = 0;
        let mut flag_values = 0;
        for (wanted, bit) in [(q.has_metrics, HAS_METRICS), (q.is_resumable, IS_RESUMABLE)] {
            if let Some(w) = wanted {
                flag_mask |= bit;
                flag_values |= if w { bit } else { 0 };
            }
        }
        Filter {
            statuses: mask(
                q.statuses
                    .as_ref()
                    .map(|s| s.iter().map(|s| s.index()).collect()),
                0x1f,
            ),
            priorities: mask(
                q.priorities
                    .as_ref()
                    .map(|p| p.iter().map(|p| p.index()).collect()),
                0x0f,
            ),
            types,
            flag_mask,
            flag_values,
            search: &q.search,
            created: (
                q.created_after.map_or(i64::MIN, |t| t.0),
                q.created_before.map_or(i64::MAX, |t| t.0),
            ),
        }
    }

    /// The count the counters give for a filter on status and priority alone.
    fn counted(brand: &BrandIndex, f: &Filter<'_>) -> usize {
        let mut n = 0;
        for (s, row) in brand.counters.counts.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                if f.statuses & (1 << s) != 0 && f.priorities & (1 << p) != 0 {
                    n += count;
                }
            }
        }
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// Counts the matches of a query without ordering them.
    pub fn count(&self, q: &TaskQuery) -> usize {
        let Some(brand) = self.brands.get(&q.brand) else {
            return 0;
        };
        let f = self.compile(q);
        if f.counters_suffice() {
            return Self::counted(brand, &f);
        }
        let cols = &brand.cols;
        cols.created_slots(f.created.0, f.created.1)
            .filter(|&s| f.matches(cols, s))
            .count()
    }

    /// Runs a list query: the total count of matches and the ids of the requested page.
    pub fn query(&self, q: &TaskQuery) -> QueryPage {
        let Some(brand) = self.brands.get(&q.brand) else {
            return QueryPage {
                count: 0,
                ids: Vec::new(),
            };
        };
        let f = self.compile(q);
        let default = [OrderKey {
            field: OrderField::CreatedAt,
            descending: true,
        }];
        let ordering: &[OrderKey] = if q.ordering.is_empty() {
            &default
        } else {
            &q.ordering
        };
        let window = Window {
            offset: q.offset,
            limit: q.limit,
        };
        let cols = &brand.cols;
        let in_slot_order = match ordering[0].field {
            OrderField::Id => true,
            OrderField::CreatedAt => cols.created_sorted,
            _ => false,
        };
        if in_slot_order {
            let known = f.counters_suffice().then(|| Self::counted(brand, &f));
            return self.walk(cols, &f, ordering, window, known);
        }
        self.select(cols, &f, ordering, window)
    }

    /// Orders by walking the slots, which are already in id and `created_at` order. Runs of
    /// equal `created_at` (a batch shares its time) are sorted by the remaining keys. Stops as
    /// soon as the page is full when the count is already known.
    fn walk(
        &self,
        cols: &Columns,
        f: &Filter<'_>,
        ordering: &[OrderKey],
        w: Window,
        known: Option<usize>,
    ) -> QueryPage {
        let range = cols.created_slots(f.created.0, f.created.1);
        let descending = ordering[0].descending;
        let by_id = ordering[0].field == OrderField::Id || ordering.len() == 1;
        let mut slots: Box<dyn Iterator<Item = usize>> = if descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut count = 0;
        let mut ids = Vec::new();
        let mut run: Vec<usize> = Vec::new();
        let flush = |run: &mut Vec<usize>, count: &mut usize, ids: &mut Vec<TaskId>| {
            if run.len() > 1 && !by_id {
                run.sort_by(|&a, &b| self.compare(cols, a, b, ordering));
            }
            for &slot in run.iter() {
                if *count >= w.offset && ids.len() < w.limit {
                    ids.push(cols.ids[slot]);
                }
                *count += 1;
            }
            run.clear();
        };
        for slot in slots.by_ref() {
            if !f.matches(cols, slot) {
                continue;
            }
            if run
                .last()
                .is_some_and(|&last| by_id || cols.created[last] != cols.created[slot])
            {
                flush(&mut run, &mut count, &mut ids);
                if known.is_some() && count >= w.end() {
                    break;
                }
            }
            run.push(slot);
        }
        flush(&mut run, &mut count, &mut ids);
        QueryPage {
            count: known.unwrap_or(count),
            ids,
        }
    }

    /// Orders by any keys: the matches' sort keys in one flat vector, the page's top entries
    /// selected in linear time, then sorted.
    fn select(
        &self,
        cols: &Columns,
        f: &Filter<'_>,
        ordering: &[OrderKey],
        w: Window,
    ) -> QueryPage {
        let range = cols.created_slots(f.created.0, f.created.1);
        let hits: Vec<usize> = range.filter(|&s| f.matches(cols, s)).collect();
        let count = hits.len();
        let type_rank = self.type_ranks();
        let stride = ordering.len() + 1;
        let mut keys = Vec::with_capacity(hits.len() * stride);
        for &slot in &hits {
            for key in ordering {
                let k = sort_key(cols, slot, key.field, &type_rank);
                keys.push(if key.descending { !k } else { k });
            }
            let id = cols.ids[slot];
            keys.push(if ordering[0].descending { !id } else { id });
        }
        let key = |i: usize| &keys[i * stride..(i + 1) * stride];
        let mut order: Vec<usize> = (0..hits.len()).collect();
        let need = w.end().min(order.len());
        if need == 0 {
            return QueryPage {
                count,
                ids: Vec::new(),
            };
        }
        if need < order.len() {
            order.select_nth_unstable_by(need - 1, |&a, &b| key(a).cmp(key(b)));
            order.truncate(need);
        }
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        let ids = order
            .iter()
            .skip(w.offset)
            .map(|&i| cols.ids[hits[i]])
            .collect();
        QueryPage { count, ids }
    }

    /// Each interned type's rank by name.
    fn type_ranks(&self) -> Vec<u64> {
        let mut by_name: Vec<u32> = (0..self.type_count() as u32).collect();
        by_name.sort_by(|&a, &b| self.type_name(a).cmp(self.type_name(b)));
        let mut rank = vec![0; by_name.len()];
        for (r, &t) in by_name.iter().enumerate() {
            rank[t as usize] = r as u64;
        }
        rank
    }

    fn compare(&self, cols: &Columns, a: usize, b: usize, ordering: &[OrderKey]) -> Ordering {
        let rank = |slot| self.type_name(cols.task_type[slot]);
        for key in ordering {
            let ord = match key.field {
                OrderField::TaskType => rank(a).cmp(rank(b)),
                field => sort_key(cols, a, field, &[]).cmp(&sort_key(cols, b, field, &[])),
            };
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let ord = cols.ids[a].cmp(&cols.ids[b]);
        if ordering[0].descending {
            ord.reverse()
        } else {
            ord
        }
    }
}

/// An order-preserving unsigned key of one field (times: nulls last).
fn sort_key(cols: &Columns, slot: usize, field: OrderField, type_rank: &[u64]) -> u64 {
    let time = |v: i64| (v as u64) ^ (1 << 63);
    match field {
        OrderField::Id => cols.ids[slot],
        OrderField::CreatedAt => time(cols.created[slot]),
        OrderField::UpdatedAt => time(cols.updated[slot]),
        OrderField::StartedAt => time(cols.started[slot]),
        OrderField::CompletedAt => time(cols.completed[slot]),
        OrderField::ScheduledFor => time(cols.scheduled[slot]),
        OrderField::Priority => u64::from(cols.priority[slot]),
        OrderField::Status => u64::from(cols.status[slot]),
        OrderField::TaskType => type_rank
            .get(cols.task_type[slot] as usize)
            .copied()
            .unwrap_or(0),
        OrderField::Progress => u64::from(cols.progress[slot]),
    }
}

#[cfg(test)]
mod tests;
