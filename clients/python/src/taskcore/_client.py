"""The blocking client: ``Client(url_or_urls, token=…, brand_id=…)``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _api as api
from ._errors import ApiError
from ._models import (
    CancelResult,
    ClusterStatus,
    FailResult,
    HeartbeatResult,
    LeasedTask,
    Page,
    PeriodicTask,
    Priority,
    QueueStats,
    RetryResult,
    Task,
    TypeStats,
)
from ._transport import Settings, SyncTransport

if TYPE_CHECKING:
    from typing_extensions import Unpack


def new_idempotency_key() -> str:
    """A fresh key for a create the caller gave none: it makes resending the create safe."""
    return f"py-{uuid.uuid4().hex}"


class Tasks:
    """``c.tasks``: create, list, read, change, cancel and retry tasks."""

    def __init__(self, t: SyncTransport):
        self._t = t

    def create(
        self, *, idempotency_key: str | None = None, **fields: Unpack[api.TaskFields]
    ) -> Task:
        """``POST /tasks/``. Without an ``idempotency_key``, one is made, so retries are safe."""
        key = idempotency_key or new_idempotency_key()
        return self._t.call(api.create_task(fields, key))

    def create_many(
        self, tasks: Sequence[api.TaskFields], *, idempotency_key: str | None = None
    ) -> list[Task]:
        """``POST /tasks/bulk/``: up to 1,000 tasks, all created or none, in this order.

        One key covers the whole request (one is made when none is given, so retries are safe);
        a :class:`ValidationError` names each task's field as ``tasks[i].field``.
        """
        key = idempotency_key or new_idempotency_key()
        return self._t.call(api.create_tasks(tasks, key))

    def list(self, **filters: Unpack[api.TaskFilters]) -> Page[Task]:
        """``GET /tasks/`` with filters, ordering and page (``page_size`` at most 500)."""
        return self._t.call(api.list_tasks(filters))

    def iter(self, **filters: Unpack[api.TaskFilters]) -> Iterator[Task]:
        """Every matching task, page after page, fetched lazily."""
        page = 1
        while True:
            current = self._t.call(api.list_tasks({**filters, "page": page}))
            yield from current.results
            if current.next is None:
                return
            page += 1

    def get(self, task: api.TaskRef) -> Task:
        """One task by ``id`` or ``task_id``, with its attempts."""
        return self._t.call(api.get_task(task))

    def update(self, task: api.TaskRef, **fields: Unpack[api.TaskPatch]) -> Task:
        """``PATCH``: only the given fields change (``context_data`` merges)."""
        return self._t.call(api.update_task(task, fields, replace=False))

    def replace(self, task: api.TaskRef, **fields: Unpack[api.TaskFields]) -> Task:
        """``PUT``: absent fields return to their defaults."""
        return self._t.call(api.update_task(task, fields, replace=True))

    def delete(self, task: api.TaskRef) -> None:
        """``DELETE`` (not while running)."""
        self._t.call(api.delete_task(task))

    def cancel(self, task: api.TaskRef) -> CancelResult:
        """Cancel a pending or running task."""
        return self._t.call(api.cancel_task(task))

    def retry(
        self,
        task: api.TaskRef,
        *,
        reset_progress: bool | None = None,
        clear_errors: bool | None = None,
        new_priority: Priority | str | None = None,
    ) -> RetryResult:
        """Retry a failed or cancelled task (while ``retry_count < max_retries``)."""
        return self._t.call(api.retry_task(task, reset_progress, clear_errors, new_priority))


class Stats:
    """``c.stats``: the brand's queue and task-type statistics."""

    def __init__(self, t: SyncTransport):
        self._t = t

    def queues(
        self, *, created_after: api.TimeArg | None = None, created_before: api.TimeArg | None = None
    ) -> QueueStats:
        """``GET /tasks/queue-stats/``."""
        return self._t.call(api.queue_stats(created_after, created_before))

    def types(
        self, *, created_after: api.TimeArg | None = None, created_before: api.TimeArg | None = None
    ) -> TypeStats:
        """``GET /tasks/type-stats/``."""
        return self._t.call(api.type_stats(created_after, created_before))


class Periodic:
    """``c.periodic``: periodic tasks (cron or interval)."""

    def __init__(self, t: SyncTransport):
        self._t = t

    def create(self, **fields: Unpack[api.PeriodicFields]) -> PeriodicTask:
        """Create one: ``name``, ``task_type`` and ``cron=`` or ``interval_seconds=``."""
        return self._t.call(api.create_periodic(fields))

    def list(self, *, page: int = 1, page_size: int = 100) -> list[PeriodicTask]:
        """One page of the brand's periodic tasks."""
        return self._t.call(api.list_periodic(page, page_size))

    def get(self, periodic_id: int) -> PeriodicTask:
        """One periodic task."""
        return self._t.call(api.get_periodic(periodic_id))

    def update(self, periodic_id: int, **fields: Unpack[api.PeriodicFields]) -> PeriodicTask:
        """Change the given fields."""
        return self._t.call(api.update_periodic(periodic_id, fields))

    def delete(self, periodic_id: int) -> None:
        """Delete it (the tasks it created stay)."""
        self._t.call(api.delete_periodic(periodic_id))

    def run_now(self, periodic_id: int) -> Task:
        """Create its task now, outside the schedule."""
        return self._t.call(api.run_periodic_now(periodic_id))


class Cluster:
    """``c.cluster`` (admin token)."""

    def __init__(self, t: SyncTransport):
        self._t = t

    def status(self) -> ClusterStatus:
        """This node's view of the cluster."""
        return self._t.call(api.cluster_status())


class Workers:
    """``c.workers``: the worker protocol itself (a worker token); :class:`Worker` uses it."""

    def __init__(self, t: SyncTransport):
        self._t = t

    def lease(
        self,
        worker_id: str,
        task_types: Sequence[str],
        *,
        max_tasks: int = 1,
        wait_seconds: int = 0,
    ) -> list[LeasedTask]:
        """Lease up to ``max_tasks``, waiting up to ``wait_seconds`` (0 to 30) for one."""
        timeout = self._t.settings.timeout + wait_seconds
        return self._t.call(api.lease(worker_id, task_types, max_tasks, wait_seconds, timeout))

    def heartbeat(self, task: int, lease_id: str, **report: Any) -> HeartbeatResult:
        """Renew the lease; ``progress_percentage``, ``checkpoint``, ``metrics`` optional."""
        return self._t.call(api.heartbeat(task, {"lease_id": lease_id, **report}))

    def complete(self, task: int, lease_id: str, result_data: Any = None, **report: Any) -> None:
        """Report success."""
        body = {"lease_id": lease_id, "result_data": result_data, **report}
        self._t.call(api.complete(task, body))

    def fail(
        self, task: int, lease_id: str, error_message: str, *, retryable: bool = True, **report: Any
    ) -> FailResult:
        """Report a failure; ``retryable=False`` fails the task for good."""
        body = {"lease_id": lease_id, "error_message": error_message, "retryable": retryable}
        return self._t.call(api.fail(task, {**body, **report}))

    def complete_many(self, completions: Sequence[dict[str, Any]]) -> list[ApiError | None]:
        """Report up to 100 successes at once (``id``, ``lease_id``, ``result_data``, ``metrics``).

        One result per report, in order: ``None`` when applied, else the error it got alone
        (a :class:`LeaseLost` for a lost lease); each is fenced by its own lease.
        """
        return self._t.call(api.complete_many(completions))

    def release(self, task: int, lease_id: str, **report: Any) -> None:
        """Give the task back unfinished (``reason``, ``checkpoint`` optional)."""
        self._t.call(api.release(task, {"lease_id": lease_id, **report}))


class Client:
    """A blocking client of a Task Core cluster.

    ``urls``: one node, or several (tried in turn when one is down or answers 503).
    ``brand_id``: the ``X-Brand-ID`` of every request (the worker protocol needs none).
    ``timeout``: seconds per request; ``retries``: retries after the first try (see
    :mod:`taskcore._transport` for what is retried).
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        token: str,
        brand_id: int | None = None,
        timeout: float = 10.0,
        retries: int = 4,
    ):
        self._transport = SyncTransport(Settings.of(urls, token, brand_id, timeout, retries))
        self.tasks = Tasks(self._transport)
        self.stats = Stats(self._transport)
        self.periodic = Periodic(self._transport)
        self.cluster = Cluster(self._transport)
        self.workers = Workers(self._transport)

    def close(self) -> None:
        """Closes the connections."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
