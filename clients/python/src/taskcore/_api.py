"""Every call of the contract as data — method, path, query, body, how to read the answer — so
that the sync and the async clients share one description and differ only in how they send it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, Literal, TypedDict, TypeVar

from ._errors import ApiError, error_for
from ._models import (
    CancelResult,
    ClusterStatus,
    FailResult,
    HeartbeatResult,
    Json,
    LeasedTask,
    Page,
    PeriodicTask,
    Priority,
    QueueStats,
    RetryResult,
    Status,
    Task,
    TypeStats,
    format_time,
    parse_time,
)

T = TypeVar("T")

TaskRef = int | str
"""A task by ``id`` (``12``) or ``task_id`` (``"task_abc123def456"``)."""

TimeArg = datetime | date | str

Params = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer.

    ``replayable``: whether it may be sent again after an answer that does not say whether it
    was applied (a ``503``, a timeout, a dropped connection). Reads are; creates are under their
    ``Idempotency-Key``; a worker's reports are fenced by their lease. Anything else is resent
    only when the connection was refused, so nothing was sent.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Params = field(default_factory=list)
    json: Json = None
    headers: dict[str, str] = field(default_factory=dict)
    replayable: bool = False
    timeout: float | None = None


class _TaskRequired(TypedDict):
    task_type: str


class _TaskOptional(TypedDict, total=False):
    priority: Priority | str
    description: str
    context_data: dict[str, Json]
    scheduled_for: TimeArg | None
    max_retries: int
    timeout_minutes: int


class TaskFields(_TaskRequired, _TaskOptional):
    """The writable fields of a task (``task_type`` required)."""


class TaskPatch(_TaskOptional, total=False):
    """The fields a PATCH changes (``context_data`` is an RFC 7396 merge patch)."""

    task_type: str


class TaskFilters(TypedDict, total=False):
    """The list's filters, ordering and page (see the README's table)."""

    status: Status | str | Sequence[Status | str]
    priority: Priority | str | Sequence[Priority | str]
    task_type: str | Sequence[str]
    task_type__startswith: str
    created_after: TimeArg
    created_before: TimeArg
    has_metrics: bool
    is_resumable: bool
    search: str
    ordering: str | Sequence[str]
    page: int | Literal["last"]
    page_size: int


class PeriodicFields(TypedDict, total=False):
    """The fields of a periodic task: ``cron`` or ``interval_seconds`` for its schedule."""

    name: str
    task_type: str
    cron: str
    interval_seconds: int
    priority: Priority | str
    description: str
    context_data: dict[str, Json]
    max_retries: int
    timeout_minutes: int
    timezone: str
    enabled: bool
    start_at: TimeArg | None
    expires_at: TimeArg | None
    one_off: bool


def _value(v: Any) -> Json:
    if isinstance(v, (datetime, date)):
        return format_time(v)
    if isinstance(v, (Status, Priority)):
        return v.value
    return v


def _body(fields: dict[str, Any]) -> dict[str, Json]:
    return {k: _value(v) for k, v in fields.items()}


def _csv(v: Any) -> str:
    if isinstance(v, (str, Status, Priority)):
        return str(_value(v))
    return ",".join(str(_value(x)) for x in v)


def _query(filters: dict[str, Any]) -> Params:
    params: Params = []
    for key, v in filters.items():
        if v is None:
            continue
        if isinstance(v, bool):
            params.append((key, "true" if v else "false"))
        elif isinstance(v, (datetime, date)):
            params.append((key, format_time(v)))
        elif key in ("status", "priority", "task_type", "ordering"):
            params.append((key, _csv(v)))
        else:
            params.append((key, str(v)))
    return params


def _ref(task: TaskRef) -> str:
    return str(task)


def _task(d: Any) -> Task:
    return Task.from_json(d)


def _none(_: Any) -> None:
    return None


def _page_parser(page: int) -> Callable[[Any], Page[Task]]:
    def parse(d: Any) -> Page[Task]:
        return Page(
            count=int(d["count"]),
            next=d.get("next"),
            previous=d.get("previous"),
            results=[Task.from_json(t) for t in d["results"]],
            page=page,
        )

    return parse


def create_task(fields: TaskFields, idempotency_key: str) -> Call[Task]:
    return Call(
        "POST",
        "/tasks/",
        _task,
        json=_body(dict(fields)),
        headers={"Idempotency-Key": idempotency_key},
        replayable=True,
    )


def _tasks(d: Any) -> list[Task]:
    return [Task.from_json(t) for t in d["results"]]


def create_tasks(tasks: Sequence[TaskFields], idempotency_key: str) -> Call[list[Task]]:
    return Call(
        "POST",
        "/tasks/bulk/",
        _tasks,
        json={"tasks": [_body(dict(t)) for t in tasks]},
        headers={"Idempotency-Key": idempotency_key},
        replayable=True,
    )


def list_tasks(filters: TaskFilters) -> Call[Page[Task]]:
    page = filters.get("page", 1)
    number = page if isinstance(page, int) else 0
    return Call(
        "GET", "/tasks/", _page_parser(number), params=_query(dict(filters)), replayable=True
    )


def get_task(task: TaskRef) -> Call[Task]:
    return Call("GET", f"/tasks/{_ref(task)}/", _task, replayable=True)


def update_task(task: TaskRef, fields: TaskPatch | TaskFields, replace: bool) -> Call[Task]:
    method = "PUT" if replace else "PATCH"
    return Call(method, f"/tasks/{_ref(task)}/", _task, json=_body(dict(fields)))


def delete_task(task: TaskRef) -> Call[None]:
    return Call("DELETE", f"/tasks/{_ref(task)}/", _none)


def cancel_task(task: TaskRef) -> Call[CancelResult]:
    return Call("POST", f"/tasks/{_ref(task)}/cancel/", CancelResult.from_json, json={})


def retry_task(
    task: TaskRef,
    reset_progress: bool | None,
    clear_errors: bool | None,
    new_priority: Priority | str | None,
) -> Call[RetryResult]:
    body = {
        k: v
        for k, v in (
            ("reset_progress", reset_progress),
            ("clear_errors", clear_errors),
            ("new_priority", _value(new_priority)),
        )
        if v is not None
    }
    return Call("POST", f"/tasks/{_ref(task)}/retry/", RetryResult.from_json, json=body)


def queue_stats(after: TimeArg | None, before: TimeArg | None) -> Call[QueueStats]:
    params = _query({"created_after": after, "created_before": before})
    return Call("GET", "/tasks/queue-stats/", QueueStats.from_json, params=params, replayable=True)


def type_stats(after: TimeArg | None, before: TimeArg | None) -> Call[TypeStats]:
    params = _query({"created_after": after, "created_before": before})
    return Call("GET", "/tasks/type-stats/", TypeStats.from_json, params=params, replayable=True)


def _periodic_body(fields: PeriodicFields) -> dict[str, Json]:
    body = _body({k: v for k, v in fields.items() if k not in ("cron", "interval_seconds")})
    if "cron" in fields or "interval_seconds" in fields:
        schedule: dict[str, Json] = {}
        if "cron" in fields:
            schedule["cron"] = fields["cron"]
        if "interval_seconds" in fields:
            schedule["interval_seconds"] = fields["interval_seconds"]
        body["schedule"] = schedule
    return body


def create_periodic(fields: PeriodicFields) -> Call[PeriodicTask]:
    body = _periodic_body(fields)
    return Call("POST", "/periodic-tasks/", PeriodicTask.from_json, json=body)


def _periodic_page(d: Any) -> list[PeriodicTask]:
    items = d["results"] if isinstance(d, dict) else d
    return [PeriodicTask.from_json(p) for p in items]


def list_periodic(page: int, page_size: int) -> Call[list[PeriodicTask]]:
    params: Params = [("page", page), ("page_size", page_size)]
    return Call("GET", "/periodic-tasks/", _periodic_page, params=params, replayable=True)


def get_periodic(periodic_id: int) -> Call[PeriodicTask]:
    return Call("GET", f"/periodic-tasks/{periodic_id}/", PeriodicTask.from_json, replayable=True)


def update_periodic(periodic_id: int, fields: PeriodicFields) -> Call[PeriodicTask]:
    path = f"/periodic-tasks/{periodic_id}/"
    return Call("PATCH", path, PeriodicTask.from_json, json=_periodic_body(fields))


def delete_periodic(periodic_id: int) -> Call[None]:
    return Call("DELETE", f"/periodic-tasks/{periodic_id}/", _none)


def run_periodic_now(periodic_id: int) -> Call[Task]:
    return Call("POST", f"/periodic-tasks/{periodic_id}/run-now/", _task, json={})


def cluster_status() -> Call[ClusterStatus]:
    return Call("GET", "/cluster/status/", ClusterStatus.from_json, replayable=True)


def lease(
    worker_id: str, task_types: Sequence[str], max_tasks: int, wait_seconds: int, timeout: float
) -> Call[list[LeasedTask]]:
    body = {
        "worker_id": worker_id,
        "task_types": list(task_types),
        "max_tasks": max_tasks,
        "wait_seconds": wait_seconds,
    }

    def parse(d: Any) -> list[LeasedTask]:
        return [LeasedTask.from_json(t) for t in d["tasks"]]

    # A replayed lease can only lease tasks nobody hears of: they come back when it runs out.
    return Call("POST", "/workers/lease/", parse, json=body, replayable=True, timeout=timeout)


def heartbeat(task: int, body: dict[str, Json]) -> Call[HeartbeatResult]:
    def parse(d: Any) -> HeartbeatResult:
        return HeartbeatResult(parse_time(d["lease_expires_at"]), bool(d["cancel_requested"]))

    path = f"/workers/tasks/{task}/heartbeat/"
    return Call("POST", path, parse, json=body, replayable=True)


def complete(task: int, body: dict[str, Json]) -> Call[None]:
    return Call("POST", f"/workers/tasks/{task}/complete/", _none, json=body, replayable=True)


def complete_many(completions: Sequence[dict[str, Any]]) -> Call[list[ApiError | None]]:
    def parse(d: Any) -> list[ApiError | None]:
        return [
            None if int(r["status"]) == 200 else error_for(int(r["status"]), r.get("error") or {})
            for r in d["results"]
        ]

    body = {"completions": [_body(dict(c)) for c in completions]}
    return Call("POST", "/workers/complete/", parse, json=body, replayable=True)


def fail(task: int, body: dict[str, Json]) -> Call[FailResult]:
    def parse(d: Any) -> FailResult:
        nxt = d.get("next_attempt_at")
        return FailResult(bool(d["will_retry"]), parse_time(nxt) if nxt else None)

    return Call("POST", f"/workers/tasks/{task}/fail/", parse, json=body, replayable=True)


def release(task: int, body: dict[str, Json]) -> Call[None]:
    return Call("POST", f"/workers/tasks/{task}/release/", _none, json=body, replayable=True)
