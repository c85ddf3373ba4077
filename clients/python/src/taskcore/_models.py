"""The contract's bodies as typed dataclasses, read from JSON with :func:`from_json` methods."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Json = Any
"""A JSON value as ``json`` decodes it."""


class Status(str, Enum):
    """A task's lifecycle status."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Priority(str, Enum):
    """A task's priority queue."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as a timezone-aware ``datetime`` (any fraction length, ``Z`` or offset)."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    s = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], s, count=1)
    value = datetime.fromisoformat(s)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def opt_time(value: Any) -> datetime | None:
    """``parse_time`` of a string, ``None`` of ``None``."""
    return parse_time(value) if isinstance(value, str) else None


def format_time(value: datetime | date | str) -> str:
    """A time for the contract: RFC 3339 (naive datetimes are taken as UTC), a ``date`` as is."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat()


@dataclass(frozen=True, slots=True)
class Brand:
    """The owning brand."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class User:
    """The creating user."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class TaskMetrics:
    """The TaskMetrics extension: figures reported by workers and measured by the server."""

    execution_time_ms: int | None
    memory_usage_mb: float | None
    queue_wait_ms: int | None
    cpu_time_ms: int | None
    custom: dict[str, Json]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TaskMetrics:
        return cls(
            execution_time_ms=d.get("execution_time_ms"),
            memory_usage_mb=d.get("memory_usage_mb"),
            queue_wait_ms=d.get("queue_wait_ms"),
            cpu_time_ms=d.get("cpu_time_ms"),
            custom=dict(d.get("custom") or {}),
        )


@dataclass(frozen=True, slots=True)
class PersistentJob:
    """The PersistentJob extension: the checkpoint a resumable task restarts from."""

    progress_percentage: int
    can_resume: bool
    checkpoint: Json
    checkpointed_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PersistentJob:
        return cls(
            progress_percentage=int(d["progress_percentage"]),
            can_resume=bool(d["can_resume"]),
            checkpoint=d.get("checkpoint"),
            checkpointed_at=parse_time(d["checkpointed_at"]),
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a task (detail view only)."""

    number: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error_message: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Attempt:
        return cls(
            number=int(d["number"]),
            worker_id=str(d["worker_id"]),
            started_at=parse_time(d["started_at"]),
            finished_at=opt_time(d.get("finished_at")),
            outcome=str(d["outcome"]),
            error_message=d.get("error_message"),
        )


@dataclass(frozen=True, slots=True)
class Task:
    """A task, every field of the contract."""

    id: int
    task_id: str
    task_type: str
    status: Status
    priority: Priority
    description: str
    progress_percentage: int
    brand: Brand
    created_by: User
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    scheduled_for: datetime | None
    context_data: dict[str, Json]
    result_data: Json
    error_message: str | None
    retry_count: int
    max_retries: int
    timeout_minutes: int
    has_metrics: bool
    is_resumable: bool
    metrics: TaskMetrics | None
    persistent_job: PersistentJob | None
    periodic_task: int | None
    attempts: list[Attempt] | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Task:
        metrics = d.get("metrics")
        job = d.get("persistent_job")
        attempts = d.get("attempts")
        return cls(
            id=int(d["id"]),
            task_id=str(d["task_id"]),
            task_type=str(d["task_type"]),
            status=Status(d["status"]),
            priority=Priority(d["priority"]),
            description=str(d.get("description", "")),
            progress_percentage=int(d.get("progress_percentage", 0)),
            brand=Brand(int(d["brand"]["id"]), str(d["brand"]["name"])),
            created_by=User(int(d["created_by"]["id"]), str(d["created_by"]["username"])),
            created_at=parse_time(d["created_at"]),
            updated_at=parse_time(d["updated_at"]),
            started_at=opt_time(d.get("started_at")),
            completed_at=opt_time(d.get("completed_at")),
            cancelled_at=opt_time(d.get("cancelled_at")),
            scheduled_for=opt_time(d.get("scheduled_for")),
            context_data=dict(d.get("context_data") or {}),
            result_data=d.get("result_data"),
            error_message=d.get("error_message"),
            retry_count=int(d.get("retry_count", 0)),
            max_retries=int(d.get("max_retries", 0)),
            timeout_minutes=int(d.get("timeout_minutes", 0)),
            has_metrics=bool(d.get("has_metrics", False)),
            is_resumable=bool(d.get("is_resumable", False)),
            metrics=TaskMetrics.from_json(metrics) if isinstance(metrics, dict) else None,
            persistent_job=PersistentJob.from_json(job) if isinstance(job, dict) else None,
            periodic_task=d.get("periodic_task"),
            attempts=[Attempt.from_json(a) for a in attempts]
            if isinstance(attempts, list)
            else None,
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: ``count`` matches in all, ``next``/``previous`` relative links."""

    count: int
    next: str | None
    previous: str | None
    results: list[T]
    page: int = 1

    @property
    def has_next(self) -> bool:
        """Whether another page follows."""
        return self.next is not None


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The answer to a cancel."""

    message: str
    task_id: str
    previous_status: Status
    cancelled_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CancelResult:
        return cls(
            message=str(d["message"]),
            task_id=str(d["task_id"]),
            previous_status=Status(d["previous_status"]),
            cancelled_at=parse_time(d["cancelled_at"]),
        )


@dataclass(frozen=True, slots=True)
class RetryResult:
    """The answer to a manual retry."""

    message: str
    task_id: str
    new_status: Status
    retry_count: int
    max_retries: int
    estimated_start: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RetryResult:
        return cls(
            message=str(d["message"]),
            task_id=str(d["task_id"]),
            new_status=Status(d["new_status"]),
            retry_count=int(d["retry_count"]),
            max_retries=int(d["max_retries"]),
            estimated_start=parse_time(d["estimated_start"]),
        )


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Counts of one priority queue."""

    pending: int
    running: int
    total_today: int


@dataclass(frozen=True, slots=True)
class QueueStats:
    """``GET /tasks/queue-stats/``."""

    total_tasks: int
    queues: dict[Priority, QueueCounts]
    status_distribution: dict[Status, int]
    avg_processing_time_minutes: dict[Priority, float | None]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QueueStats:
        return cls(
            total_tasks=int(d["total_tasks"]),
            queues={Priority(k): QueueCounts(**v) for k, v in d["queues"].items()},
            status_distribution={Status(k): int(v) for k, v in d["status_distribution"].items()},
            avg_processing_time_minutes={
                Priority(k): v for k, v in d["avg_processing_time_minutes"].items()
            },
        )


@dataclass(frozen=True, slots=True)
class TypeStat:
    """Figures of one task type."""

    total: int
    completed: int
    failed: int
    avg_duration_minutes: float | None
    success_rate: float


@dataclass(frozen=True, slots=True)
class TypeStats:
    """``GET /tasks/type-stats/``."""

    task_types: dict[str, TypeStat]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TypeStats:
        return cls(task_types={k: TypeStat(**v) for k, v in d["task_types"].items()})


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a periodic task runs: a 5-field ``cron`` or every ``interval_seconds``."""

    cron: str | None = None
    interval_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """A periodic task."""

    id: int
    name: str
    task_type: str
    priority: Priority
    description: str
    context_data: dict[str, Json]
    max_retries: int
    timeout_minutes: int
    schedule: Schedule
    timezone: str
    enabled: bool
    start_at: datetime | None
    expires_at: datetime | None
    one_off: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    total_run_count: int
    brand: Brand
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PeriodicTask:
        s = d.get("schedule") or {}
        return cls(
            id=int(d["id"]),
            name=str(d["name"]),
            task_type=str(d["task_type"]),
            priority=Priority(d["priority"]),
            description=str(d.get("description", "")),
            context_data=dict(d.get("context_data") or {}),
            max_retries=int(d["max_retries"]),
            timeout_minutes=int(d["timeout_minutes"]),
            schedule=Schedule(s.get("cron"), s.get("interval_seconds")),
            timezone=str(d["timezone"]),
            enabled=bool(d["enabled"]),
            start_at=opt_time(d.get("start_at")),
            expires_at=opt_time(d.get("expires_at")),
            one_off=bool(d["one_off"]),
            last_run_at=opt_time(d.get("last_run_at")),
            next_run_at=opt_time(d.get("next_run_at")),
            total_run_count=int(d["total_run_count"]),
            brand=Brand(int(d["brand"]["id"]), str(d["brand"]["name"])),
            created_at=parse_time(d["created_at"]),
            updated_at=parse_time(d["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """``GET /cluster/status/`` (admin): this node's view of the cluster."""

    node_id: int
    state: str
    leader_id: int | None
    term: int
    last_log_index: int | None
    last_applied: int | None
    voters: list[int]
    learners: list[int]
    nodes: dict[int, dict[str, str]]
    raw: dict[str, Json] = field(repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ClusterStatus:
        m = d.get("membership") or {}
        return cls(
            node_id=int(d["node_id"]),
            state=str(d["state"]),
            leader_id=d.get("leader_id"),
            term=int(d["term"]),
            last_log_index=d.get("last_log_index"),
            last_applied=d.get("last_applied"),
            voters=[int(v) for v in m.get("voters", [])],
            learners=[int(v) for v in m.get("learners", [])],
            nodes={int(k): dict(v) for k, v in (m.get("nodes") or {}).items()},
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class LeasedTask:
    """A task leased to a worker, with its lease."""

    task: Task
    lease_id: str
    lease_expires_at: datetime
    attempt: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LeasedTask:
        return cls(
            task=Task.from_json(d),
            lease_id=str(d["lease_id"]),
            lease_expires_at=parse_time(d["lease_expires_at"]),
            attempt=int(d["attempt"]),
        )


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    """The answer to a heartbeat."""

    lease_expires_at: datetime
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class FailResult:
    """The answer to a failure report."""

    will_retry: bool
    next_attempt_at: datetime | None
