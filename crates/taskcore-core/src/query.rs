//! Filtering, searching, ordering and paginating a brand's tasks over the index.

use std::cmp::Ordering;

use crate::{BrandId, Entry, Index, Priority, Status, TaskId, Timestamp};

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

/// A query compiled against the index: sets as bit masks, types as interned ids.
struct Filter<'a> {
    statuses: u8,
    priorities: u8,
    types: Option<Vec<bool>>,
    has_metrics: Option<bool>,
    is_resumable: Option<bool>,
    search: &'a [String],
    created: (Timestamp, Timestamp),
}

impl Filter<'_> {
    fn is_trivial(&self) -> bool {
        self.statuses == 0x1f
            && self.priorities == 0x0f
            && self.types.is_none()
            && self.has_metrics.is_none()
            && self.is_resumable.is_none()
            && self.search.is_empty()
            && self.created == (Timestamp(i64::MIN), Timestamp(i64::MAX))
    }

    fn matches(&self, e: &Entry) -> bool {
        self.statuses & (1 << e.status.index()) != 0
            && self.priorities & (1 << e.priority.index()) != 0
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.get(e.task_type as usize).copied().unwrap_or(false))
            && self.has_metrics.is_none_or(|m| m == e.has_metrics)
            && self.is_resumable.is_none_or(|r| r == e.is_resumable)
            && e.created_at >= self.created.0
            && e.created_at <= self.created.1
            && e.matches_terms(self.search)
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
            has_metrics: q.has_metrics,
            is_resumable: q.is_resumable,
            search: &q.search,
            created: (
                q.created_after.unwrap_or(Timestamp(i64::MIN)),
                q.created_before.unwrap_or(Timestamp(i64::MAX)),
            ),
        }
    }

    /// Runs a list query: the total count of matches and the ids of the requested page.
    pub fn query(&self, q: &TaskQuery) -> QueryPage {
        let Some(brand) = self.brands.get(&q.brand) else {
            return QueryPage {
                count: 0,
                ids: Vec::new(),
            };
        };
        let filter = self.compile(q);
        let default = [OrderKey {
            field: OrderField::CreatedAt,
            descending: true,
        }];
        let ordering: &[OrderKey] = if q.ordering.is_empty() {
            &default
        } else {
            &q.ordering
        };

        // Single-key orders the index already keeps: walk in order, never sort.
        if let [key] = ordering {
            let walk: Option<Box<dyn DoubleEndedIterator<Item = &Entry>>> = match key.field {
                OrderField::Id => Some(Box::new(brand.tasks.values())),
                OrderField::CreatedAt => Some(Box::new(
                    brand
                        .by_created
                        .range((filter.created.0, 0)..=(filter.created.1, TaskId::MAX))
                        .filter_map(|(_, id)| brand.tasks.get(id)),
                )),
                _ => None,
            };
            if let Some(walk) = walk {
                let walk: Box<dyn Iterator<Item = &Entry>> = if key.descending {
                    Box::new(walk.rev())
                } else {
                    walk
                };
                return page_in_order(walk, &filter, brand.tasks.len(), q);
            }
        }

        let mut hits: Vec<&Entry> = brand.tasks.values().filter(|e| filter.matches(e)).collect();
        let count = hits.len();
        let cmp = |a: &&Entry, b: &&Entry| self.compare(a, b, ordering);
        let need = q.offset.saturating_add(q.limit);
        if need < hits.len() {
            if need > 0 {
                hits.select_nth_unstable_by(need - 1, cmp);
            }
            hits.truncate(need);
        }
        hits.sort_unstable_by(cmp);
        let ids = hits.iter().skip(q.offset).map(|e| e.id).collect();
        QueryPage { count, ids }
    }

    /// Counts the matches of a query without ordering them.
    pub fn count(&self, q: &TaskQuery) -> usize {
        let Some(brand) = self.brands.get(&q.brand) else {
            return 0;
        };
        let filter = self.compile(q);
        if filter.is_trivial() {
            return brand.tasks.len();
        }
        brand.tasks.values().filter(|e| filter.matches(e)).count()
    }

    fn compare(&self, a: &Entry, b: &Entry, ordering: &[OrderKey]) -> Ordering {
        for key in ordering {
            let ord = self.compare_field(a, b, key.field);
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let ord = a.id.cmp(&b.id);
        if ordering.first().is_some_and(|k| k.descending) {
            ord.reverse()
        } else {
            ord
        }
    }

    fn compare_field(&self, a: &Entry, b: &Entry, field: OrderField) -> Ordering {
        // Nulls sort after every value ascending (and first descending), as PostgreSQL does.
        fn opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
            match (a, b) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        match field {
            OrderField::Id => a.id.cmp(&b.id),
            OrderField::CreatedAt => a.created_at.cmp(&b.created_at),
            OrderField::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            OrderField::StartedAt => opt(a.started_at, b.started_at),
            OrderField::CompletedAt => opt(a.completed_at, b.completed_at),
            OrderField::ScheduledFor => opt(a.scheduled_for, b.scheduled_for),
            OrderField::Priority => a.priority.cmp(&b.priority),
            OrderField::Status => a.status.cmp(&b.status),
            OrderField::TaskType => self.type_name(a.task_type).cmp(self.type_name(b.task_type)),
            OrderField::Progress => a.progress.cmp(&b.progress),
        }
    }
}

fn page_in_order<'a>(
    walk: impl Iterator<Item = &'a Entry>,
    filter: &Filter<'_>,
    total: usize,
    q: &TaskQuery,
) -> QueryPage {
    if filter.is_trivial() {
        let ids = walk.skip(q.offset).take(q.limit).map(|e| e.id).collect();
        return QueryPage { count: total, ids };
    }
    let mut count = 0;
    let mut ids = Vec::new();
    for e in walk.filter(|e| filter.matches(e)) {
        if count >= q.offset && ids.len() < q.limit {
            ids.push(e.id);
        }
        count += 1;
    }
    QueryPage { count, ids }
}
