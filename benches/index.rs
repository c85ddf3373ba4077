//! Lists, counts and statistics of one brand holding 1,000,000 tasks, answered from the index.
//!
//! `cargo bench --bench index` (figures in BENCHMARKS.md).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use taskcore_core::{
    BrandRef, Index, Json, OrderField, OrderKey, Priority, Status, Task, TaskQuery, Timestamp,
    UserRef,
};

const TASKS: u64 = 1_000_000;
const BRAND: u64 = 9;
const TYPES: [&str; 6] = [
    "seo_keyword_analysis",
    "seo_content_audit",
    "content_optimization",
    "data_export",
    "report_generation",
    "bulk_operations",
];

fn task(id: u64) -> Task {
    // A deterministic spread of statuses, priorities and types; one task every 50 ms.
    let created = Timestamp(1_700_000_000_000_000 + id as i64 * 50_000);
    let status = Status::ALL[(id * 7 % 5) as usize];
    let started = (status != Status::Pending).then(|| created.plus_micros(1_000_000));
    let done = matches!(status, Status::Completed | Status::Failed);
    Task {
        id,
        task_id: format!("task_{id:012}"),
        task_type: TYPES[(id % 6) as usize].into(),
        status,
        priority: Priority::ALL[(id * 3 % 4) as usize],
        description: format!("analysis batch {} for client {}", id % 1000, id % 97),
        progress_percentage: (id % 101) as u8,
        brand: BrandRef {
            id: if id.is_multiple_of(10) {
                BRAND + 1
            } else {
                BRAND
            },
            name: "Humari".into(),
        },
        created_by: UserRef {
            id: 1,
            username: "martin".into(),
        },
        created_at: created,
        updated_at: created,
        started_at: started,
        completed_at: done.then(|| created.plus_micros(60_000_000 + (id % 600) as i64 * 1_000_000)),
        cancelled_at: None,
        scheduled_for: None,
        context_data: Json::empty_object(),
        result_data: None,
        error_message: None,
        retry_count: 0,
        max_retries: 3,
        timeout_minutes: 60,
        metrics: None,
        persistent_job: None,
        periodic_task: None,
        attempts: Vec::new(),
        lease: None,
        queued_at: created,
    }
}

fn build() -> Index {
    let mut index = Index::default();
    // Brand 9 gets nine tasks in ten: 1,000,000 of its own.
    for id in 1..=TASKS * 10 / 9 {
        index.insert(&task(id));
    }
    index
}

fn page(mut q: TaskQuery) -> TaskQuery {
    q.offset = 0;
    q.limit = 20;
    q
}

fn benches(c: &mut Criterion) {
    let index = build();
    assert!(index.brand_len(BRAND) >= TASKS as usize);
    let now = Timestamp(1_700_000_000_000_000 + TASKS as i64 * 50_000);
    let mut g = c.benchmark_group("brand_with_1m_tasks");
    g.sample_size(20);

    let all = TaskQuery::all(BRAND);
    g.bench_function("count_all", |b| b.iter(|| black_box(index.count(&all))));
    g.bench_function("list_page1_default_order", |b| {
        let q = page(all.clone());
        b.iter(|| black_box(index.query(&q)))
    });
    g.bench_function("list_page_1000_default_order", |b| {
        let mut q = page(all.clone());
        q.offset = 999 * 20;
        b.iter(|| black_box(index.query(&q)))
    });
    let mut filtered = page(all.clone());
    filtered.statuses = Some(vec![Status::Pending, Status::Running]);
    filtered.priorities = Some(vec![Priority::High, Priority::Critical]);
    g.bench_function("list_filtered_status_priority", |b| {
        b.iter(|| black_box(index.query(&filtered)))
    });
    let mut by_priority = page(all.clone());
    by_priority.ordering = vec![OrderKey {
        field: OrderField::Priority,
        descending: true,
    }];
    g.bench_function("list_ordered_by_priority", |b| {
        b.iter(|| black_box(index.query(&by_priority)))
    });
    let mut search = page(all.clone());
    search.search = vec!["batch".into(), "42".into()];
    g.bench_function("list_search_two_terms", |b| {
        b.iter(|| black_box(index.query(&search)))
    });
    let mut prefix = page(all.clone());
    prefix.task_type_prefix = Some("seo".into());
    g.bench_function("count_type_prefix", |b| {
        b.iter(|| black_box(index.count(&prefix)))
    });
    g.bench_function("queue_stats", |b| {
        b.iter(|| black_box(index.queue_stats(BRAND, None, None, now)))
    });
    g.bench_function("type_stats", |b| {
        b.iter(|| black_box(index.type_stats(BRAND, None, None)))
    });
    let last_hour = Some(now.plus_micros(-3600 * Timestamp::SECOND));
    g.bench_function("queue_stats_created_last_hour", |b| {
        b.iter(|| black_box(index.queue_stats(BRAND, last_hour, None, now)))
    });
    // The costliest list query the edge accepts: every orderable field once, 16 search terms
    // in 200 characters, a status filter.
    let mut worst = page(all.clone());
    worst.statuses = Some(vec![Status::Pending, Status::Running, Status::Completed]);
    worst.search = (0..16).map(|i| format!("{}", i % 10)).collect();
    worst.search[0] = "batch".into();
    worst.ordering = OrderField::NAMES
        .iter()
        .rev()
        .filter_map(|n| OrderField::parse(n))
        .map(|field| OrderKey {
            field,
            descending: true,
        })
        .collect();
    g.bench_function("list_worst_accepted_query", |b| {
        b.iter(|| black_box(index.query(&worst)))
    });
    g.finish();

    // Leasing with a type filter: one queue per (brand, type), so a lease for a type with
    // nothing pending does not walk the other types' backlog (about 200,000 pending tasks).
    let mut g = c.benchmark_group("lease_pick_over_1_1m_tasks");
    g.sample_size(20);
    let mut turns = [0; 4];
    let rare = vec!["sitemap_generation".to_owned()];
    g.bench_function("pick_type_with_nothing_pending", |b| {
        b.iter(|| black_box(index.pick_leasable(now, &rare, 1, &mut turns)))
    });
    let common = vec!["data_export".to_owned()];
    g.bench_function("pick_10_of_one_type", |b| {
        b.iter(|| black_box(index.pick_leasable(now, &common, 10, &mut turns)))
    });
    g.finish();

    // What the retention policy reads, over every brand (1,111,111 tasks, three in five finished).
    let mut g = c.benchmark_group("retention_over_1_1m_tasks");
    g.sample_size(10);
    g.bench_function("oldest_finished", |b| {
        b.iter(|| black_box(index.oldest_finished()))
    });
    g.bench_function("finished_before_pick_1000", |b| {
        b.iter(|| black_box(index.finished_before(now, 1000, &Default::default())))
    });
    g.finish();
}

criterion_group!(index_benches, benches);
criterion_main!(index_benches);
