"""Every method of the blocking client, and every error class, against a real node."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from conftest import Node

from taskcore import (
    AuthenticationFailed,
    Client,
    IdempotencyKeyReused,
    InvalidOperation,
    LeaseLost,
    MaxRetriesExceeded,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Priority,
    Status,
    Task,
    TaskFields,
    TransportError,
    ValidationError,
)


@pytest.fixture
def c(node: Node, user_token: str) -> Iterator[Client]:
    with Client(node.url, token=user_token, brand_id=9) as client:
        yield client


def marker() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


def test_create_returns_every_field_typed(c: Client) -> None:
    when = datetime.now(timezone.utc) + timedelta(days=1)
    t = c.tasks.create(
        task_type="seo_keyword_analysis",
        priority="high",
        description="keywords for the shop",
        context_data={"url": "https://example.com", "depth": 2},
        scheduled_for=when,
        max_retries=5,
        timeout_minutes=30,
    )
    assert isinstance(t, Task)
    assert t.task_id.startswith("task_")
    assert t.status is Status.PENDING
    assert t.priority is Priority.HIGH
    assert t.context_data == {"url": "https://example.com", "depth": 2}
    assert t.max_retries == 5
    assert t.timeout_minutes == 30
    assert t.brand.id == 9
    assert t.created_by.username == "martin"
    assert t.created_at.tzinfo is not None
    assert t.scheduled_for is not None
    assert abs((t.scheduled_for - when).total_seconds()) < 1
    assert t.result_data is None
    assert t.metrics is None


def test_get_by_id_and_task_id_with_attempts(c: Client) -> None:
    t = c.tasks.create(task_type="data_export")
    by_id = c.tasks.get(t.id)
    by_task_id = c.tasks.get(t.task_id)
    assert by_id == by_task_id
    assert by_id.attempts == []


def test_list_filters_ordering_and_pages(c: Client) -> None:
    m = marker()
    made = [
        c.tasks.create(task_type="seo_content_audit", priority="low", description=f"{m} a"),
        c.tasks.create(task_type="seo_content_audit", priority="high", description=f"{m} b"),
        c.tasks.create(task_type="data_export", priority="high", description=f"{m} c"),
    ]
    page = c.tasks.list(search=m, task_type__startswith="seo", ordering=["priority", "-id"])
    assert page.count == 2
    assert [t.id for t in page.results] == [made[0].id, made[1].id]
    high = c.tasks.list(search=m, priority=["high", Priority.CRITICAL], ordering="id")
    assert [t.id for t in high.results] == [made[1].id, made[2].id]
    since = made[0].created_at - timedelta(seconds=1)
    recent = c.tasks.list(search=m, created_after=since, status=[Status.PENDING], page_size=2)
    assert recent.count == 3
    assert len(recent.results) == 2
    assert recent.has_next
    second = c.tasks.list(search=m, created_after=since, page_size=2, page=2)
    assert len(second.results) == 1
    assert second.page == 2
    assert c.tasks.list(search=m, has_metrics=True).count == 0


def test_iter_walks_every_page_lazily(c: Client) -> None:
    m = marker()
    ids = {c.tasks.create(task_type="data_export", description=m).id for _ in range(7)}
    seen = [t.id for t in c.tasks.iter(search=m, page_size=3, ordering="id")]
    assert seen == sorted(ids)


def test_update_merges_and_replace_resets(c: Client) -> None:
    t = c.tasks.create(task_type="data_export", context_data={"a": 1, "b": 2}, priority="low")
    patched = c.tasks.update(t.id, context_data={"b": None, "c": 3}, description="changed")
    assert patched.context_data == {"a": 1, "c": 3}
    assert patched.description == "changed"
    assert patched.priority is Priority.LOW
    replaced = c.tasks.replace(t.task_id, task_type="data_export", description="only this")
    assert replaced.context_data == {}
    assert replaced.priority is Priority.NORMAL
    assert replaced.description == "only this"


def test_delete_then_not_found(c: Client) -> None:
    t = c.tasks.create(task_type="data_export")
    c.tasks.delete(t.id)
    with pytest.raises(NotFound) as e:
        c.tasks.get(t.id)
    assert e.value.status == 404
    assert e.value.error_code == "NOT_FOUND"


def test_cancel_and_invalid_operation(c: Client) -> None:
    t = c.tasks.create(task_type="data_export")
    cancelled = c.tasks.cancel(t.id)
    assert cancelled.previous_status is Status.PENDING
    assert cancelled.task_id == t.task_id
    with pytest.raises(InvalidOperation) as e:
        c.tasks.cancel(t.id)
    assert e.value.current_status is Status.CANCELLED
    assert e.value.allowed_statuses == [Status.PENDING, Status.RUNNING]
    pending = c.tasks.create(task_type="data_export")
    with pytest.raises(InvalidOperation) as e2:
        c.tasks.retry(pending.id)
    assert e2.value.allowed_statuses == [Status.FAILED, Status.CANCELLED]


def test_retry_and_max_retries_exceeded(c: Client) -> None:
    t = c.tasks.create(task_type="data_export", max_retries=1)
    c.tasks.cancel(t.id)
    r = c.tasks.retry(t.id, reset_progress=True, clear_errors=True, new_priority="critical")
    assert r.new_status is Status.PENDING
    assert r.retry_count == 1
    assert c.tasks.get(t.id).priority is Priority.CRITICAL
    c.tasks.cancel(t.id)
    with pytest.raises(MaxRetriesExceeded) as e:
        c.tasks.retry(t.id)
    assert (e.value.retry_count, e.value.max_retries) == (1, 1)


def test_validation_errors_list_every_field(c: Client) -> None:
    with pytest.raises(ValidationError) as e:
        c.tasks.create(task_type="nope", priority="urgent", max_retries=99)
    assert e.value.field_errors is not None
    assert {"task_type", "priority", "max_retries"} <= set(e.value.field_errors)


def test_idempotency_key_replays_and_refuses_another_body(c: Client) -> None:
    key = marker()
    first = c.tasks.create(task_type="data_export", description="once", idempotency_key=key)
    again = c.tasks.create(task_type="data_export", description="once", idempotency_key=key)
    assert again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        c.tasks.create(task_type="data_export", description="other", idempotency_key=key)


def test_create_many_is_all_or_nothing_in_order_and_replayable(c: Client) -> None:
    m = marker()
    tasks: list[TaskFields] = [
        {"task_type": "data_export", "description": f"{m} {i}"} for i in range(3)
    ]
    tasks.append({"task_type": "seo_content_audit", "priority": Priority.HIGH, "description": m})
    made = c.tasks.create_many(tasks, idempotency_key=m)
    assert [t.description for t in made] == [f"{m} 0", f"{m} 1", f"{m} 2", m]
    assert [t.id for t in made] == list(range(made[0].id, made[0].id + 4))
    assert made[3].priority is Priority.HIGH
    again = c.tasks.create_many(tasks, idempotency_key=m)
    assert [t.id for t in again] == [t.id for t in made]
    with pytest.raises(ValidationError) as bad:
        c.tasks.create_many([{"task_type": "data_export", "description": m}, {"task_type": "nope"}])
    assert bad.value.field_errors is not None
    assert "tasks[1].task_type" in bad.value.field_errors
    # Nothing of the refused request was created.
    assert c.tasks.list(search=m).count == 4


def test_stats(c: Client) -> None:
    c.tasks.create(task_type="report_generation", priority="critical")
    q = c.stats.queues()
    assert q.total_tasks >= 1
    assert q.queues[Priority.CRITICAL].pending >= 1
    assert sum(q.status_distribution.values()) == q.total_tasks
    types = c.stats.types(created_after=datetime.now(timezone.utc) - timedelta(hours=1))
    assert types.task_types["report_generation"].total >= 1


def test_periodic_tasks(c: Client) -> None:
    name = marker()
    p = c.periodic.create(
        name=name, task_type="data_export", cron="0 9 * * MON", timezone="Europe/Paris"
    )
    assert p.schedule.cron == "0 9 * * MON"
    assert p.next_run_at is not None
    assert p.next_run_at.tzinfo is not None
    assert any(x.id == p.id for x in c.periodic.list())
    assert c.periodic.get(p.id).name == name
    changed = c.periodic.update(p.id, interval_seconds=3600, enabled=False)
    assert changed.schedule.interval_seconds == 3600
    assert not changed.enabled
    run = c.periodic.run_now(p.id)
    assert run.periodic_task == p.id
    c.periodic.delete(p.id)
    with pytest.raises(NotFound):
        c.periodic.get(p.id)


def test_cluster_status_needs_admin(node: Node, admin_token: str, c: Client) -> None:
    with Client(node.url, token=admin_token) as admin:
        status = admin.cluster.status()
    assert status.state == "leader"
    assert status.voters == [1]
    with pytest.raises(PermissionDenied):
        c.cluster.status()


def test_authentication_and_brand_errors(node: Node, user_token: str) -> None:
    with (
        Client(node.url, token="not-a-token", brand_id=9) as bad,
        pytest.raises(AuthenticationFailed) as e,
    ):
        bad.tasks.list()
    assert e.value.status == 401
    with Client(node.url, token=user_token, brand_id=77) as other, pytest.raises(PermissionDenied):
        other.tasks.list()
    with Client(node.url, token=user_token) as no_brand, pytest.raises(ValidationError) as e2:
        no_brand.tasks.list()
    assert e2.value.error_code == "BRAND_REQUIRED"


def test_no_node_reachable_is_a_transport_error(user_token: str) -> None:
    with (
        Client("http://127.0.0.1:9", token=user_token, brand_id=9, retries=1) as c,
        pytest.raises(TransportError),
    ):
        c.tasks.list()


def test_the_worker_protocol_and_lease_lost(node: Node, worker_token: str, c: Client) -> None:
    t = c.tasks.create(task_type="sitemap_generation")
    with Client(node.url, token=worker_token) as w:
        leased = w.workers.lease("py-test", ["sitemap_generation"], max_tasks=5, wait_seconds=5)
        assert [x.task.id for x in leased] == [t.id]
        lease = leased[0]
        assert lease.attempt == 1
        beat = w.workers.heartbeat(t.id, lease.lease_id, progress_percentage=50)
        assert not beat.cancel_requested
        assert beat.lease_expires_at >= lease.lease_expires_at
        with pytest.raises(LeaseLost) as e:
            w.workers.complete(t.id, "lease_not_this_one", {"x": 1})
        assert e.value.status == 409
        w.workers.complete(t.id, lease.lease_id, {"rows": 3})
        with pytest.raises(LeaseLost):
            w.workers.fail(t.id, lease.lease_id, "too late")
    done = c.tasks.get(t.id)
    assert done.status is Status.COMPLETED
    assert done.result_data == {"rows": 3}


def test_completions_reported_together_are_fenced_one_by_one(
    node: Node, worker_token: str, c: Client
) -> None:
    made = c.tasks.create_many([{"task_type": "meta_tags_generation"} for _ in range(2)])
    with Client(node.url, token=worker_token) as w:
        leased = w.workers.lease("py-many", ["meta_tags_generation"], max_tasks=5, wait_seconds=5)
        assert sorted(x.task.id for x in leased) == [t.id for t in made]
        first, second = leased
        results = w.workers.complete_many(
            [
                {"id": first.task.id, "lease_id": first.lease_id, "result_data": {"n": 1}},
                {"id": second.task.id, "lease_id": "lease_not_this_one", "result_data": {}},
            ]
        )
        assert results[0] is None
        assert isinstance(results[1], LeaseLost)
        assert results[1].status == 409
    assert c.tasks.get(first.task.id).result_data == {"n": 1}
    assert c.tasks.get(second.task.id).status is Status.RUNNING


def test_a_body_over_the_limit_is_payload_too_large(c: Client) -> None:
    with pytest.raises(PayloadTooLarge) as e:
        c.tasks.create(task_type="data_export", context_data={"blob": "x" * (1100 * 1024)})
    assert e.value.status == 413
