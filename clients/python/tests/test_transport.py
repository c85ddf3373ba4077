"""What the client resends, and where: against scripted answers (``httpx.MockTransport``)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from taskcore import Client, TransportError, Unavailable
from taskcore._transport import Settings, SyncTransport

TASK = {
    "id": 1,
    "task_id": "task_aaaaaaaaaaaa",
    "task_type": "data_export",
    "status": "pending",
    "priority": "normal",
    "description": "",
    "progress_percentage": 0,
    "brand": {"id": 9, "name": "Humari"},
    "created_by": {"id": 1, "username": "martin"},
    "created_at": "2024-12-20T14:30:00Z",
    "updated_at": "2024-12-20T14:30:00.123Z",
    "started_at": None,
    "completed_at": None,
    "cancelled_at": None,
    "scheduled_for": None,
    "context_data": {},
    "result_data": None,
    "error_message": None,
    "retry_count": 0,
    "max_retries": 3,
    "timeout_minutes": 60,
    "has_metrics": False,
    "is_resumable": False,
    "metrics": None,
    "persistent_job": None,
    "periodic_task": None,
}
UNAVAILABLE = {"detail": "no leader", "error_code": "UNAVAILABLE"}

Script = Callable[[httpx.Request], httpx.Response]


def client(script: Script, urls: list[str] | None = None, retries: int = 3) -> Client:
    settings = Settings.of(urls or ["http://a", "http://b"], "tok", 9, 5.0, retries)
    settings = Settings(settings.urls, "tok", 9, 5.0, retries, backoff=0.001, max_backoff=0.002)
    c = Client(settings.urls, token="tok", brand_id=9)
    c._transport.http.close()
    transport = SyncTransport(settings, httpx.Client(transport=httpx.MockTransport(script)))
    for resource in (c.tasks, c.stats, c.periodic, c.cluster, c.workers):
        resource._t = transport
    return c


def test_a_read_is_retried_on_the_next_node_after_a_503() -> None:
    seen: list[str] = []

    def script(r: httpx.Request) -> httpx.Response:
        seen.append(r.url.host)
        if len(seen) == 1:
            return httpx.Response(503, json=UNAVAILABLE, headers={"Retry-After": "0"})
        return httpx.Response(200, json=TASK)

    task = client(script).tasks.get(1)
    assert task.id == 1
    assert task.updated_at.microsecond == 123000
    assert seen == ["a", "b"]


def test_a_create_is_resent_under_the_same_idempotency_key() -> None:
    keys: list[str | None] = []

    def script(r: httpx.Request) -> httpx.Response:
        keys.append(r.headers.get("Idempotency-Key"))
        if len(keys) < 3:
            return httpx.Response(503, json=UNAVAILABLE)
        assert json.loads(r.content) == {"task_type": "data_export", "priority": "high"}
        return httpx.Response(201, json=TASK)

    client(script).tasks.create(task_type="data_export", priority="high")
    assert len(keys) == 3
    assert keys[0] is not None
    assert keys[0].startswith("py-")
    assert keys.count(keys[0]) == 3


def test_an_update_is_not_resent_after_an_ambiguous_answer() -> None:
    calls = []

    def script(r: httpx.Request) -> httpx.Response:
        calls.append(r.method)
        return httpx.Response(503, json=UNAVAILABLE)

    with pytest.raises(Unavailable):
        client(script).tasks.update(1, description="x")
    assert calls == ["PATCH"]

    def timeout(r: httpx.Request) -> httpx.Response:
        calls.append(r.method)
        raise httpx.ReadTimeout("slow", request=r)

    calls.clear()
    with pytest.raises(TransportError, match="may or may not have been applied"):
        client(timeout).tasks.cancel(1)
    assert calls == ["POST"]


def test_an_update_is_resent_when_nothing_was_sent() -> None:
    hosts: list[str] = []

    def script(r: httpx.Request) -> httpx.Response:
        hosts.append(r.url.host)
        if r.url.host == "a":
            raise httpx.ConnectError("refused", request=r)
        return httpx.Response(200, json=TASK)

    client(script).tasks.update(1, description="x")
    assert hosts == ["a", "b"]


def test_retries_end_with_the_last_error() -> None:
    calls = []

    def script(r: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json=UNAVAILABLE, headers={"Retry-After": "0"})

    with pytest.raises(Unavailable) as e:
        client(script, retries=2).tasks.list()
    assert len(calls) == 3
    assert e.value.retry_after == 0


def test_every_request_carries_the_token_and_the_brand() -> None:
    def script(r: httpx.Request) -> httpx.Response:
        assert r.headers["Authorization"] == "Bearer tok"
        assert r.headers["X-Brand-ID"] == "9"
        assert r.url.params.get_list("status") == ["pending,running"]
        assert r.url.params["created_after"] == "2024-12-01"
        return httpx.Response(200, json={"count": 0, "next": None, "previous": None, "results": []})

    from datetime import date

    page = client(script).tasks.list(status=["pending", "running"], created_after=date(2024, 12, 1))
    assert page.count == 0
