"""The asynchronous client: ``AsyncClient(url_or_urls, token=…, brand_id=…)``, the same surface
as :class:`taskcore.Client` with every call awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _api as api
from ._client import new_idempotency_key
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
from ._transport import AsyncTransport, Settings

if TYPE_CHECKING:
    from typing_extensions import Unpack


class Tasks:
    """``ac.tasks``: create, list, read, change, cancel and retry tasks."""

    def __init__(self, t: AsyncTransport):
        self._t = t

    async def create(
        self, *, idempotency_key: str | None = None, **fields: Unpack[api.TaskFields]
    ) -> Task:
        """``POST /tasks/``. Without an ``idempotency_key``, one is made, so retries are safe."""
        key = idempotency_key or new_idempotency_key()
        return await self._t.call(api.create_task(fields, key))

    async def create_many(
        self, tasks: Sequence[api.TaskFields], *, idempotency_key: str | None = None
    ) -> list[Task]:
        """``POST /tasks/bulk/``: up to 1,000 tasks, all created or none, in this order.

        One key covers the whole request (one is made when none is given, so retries are safe);
        a :class:`ValidationError` names each task's field as ``tasks[i].field``.
        """
        key = idempotency_key or new_idempotency_key()
        return await self._t.call(api.create_tasks(tasks, key))

    async def list(self, **filters: Unpack[api.TaskFilters]) -> Page[Task]:
        """``GET /tasks/`` with filters, ordering and page (``page_size`` at most 500)."""
        return await self._t.call(api.list_tasks(filters))

    async def iter(self, **filters: Unpack[api.TaskFilters]) -> AsyncIterator[Task]:
        """Every matching task, page after page, fetched lazily."""
        page = 1
        while True:
            current = await self._t.call(api.list_tasks({**filters, "page": page}))
            for task in current.results:
                yield task
            if current.next is None:
                return
            page += 1

    async def get(self, task: api.TaskRef) -> Task:
        """One task by ``id`` or ``task_id``, with its attempts."""
        return await self._t.call(api.get_task(task))

    async def update(self, task: api.TaskRef, **fields: Unpack[api.TaskPatch]) -> Task:
        """``PATCH``: only the given fields change (``context_data`` merges)."""
        return await self._t.call(api.update_task(task, fields, replace=False))

    async def replace(self, task: api.TaskRef, **fields: Unpack[api.TaskFields]) -> Task:
        """``PUT``: absent fields return to their defaults."""
        return await self._t.call(api.update_task(task, fields, replace=True))

    async def delete(self, task: api.TaskRef) -> None:
        """``DELETE`` (not while running)."""
        await self._t.call(api.delete_task(task))

    async def cancel(self, task: api.TaskRef) -> CancelResult:
        """Cancel a pending or running task."""
        return await self._t.call(api.cancel_task(task))

    async def retry(
        self,
        task: api.TaskRef,
        *,
        reset_progress: bool | None = None,
        clear_errors: bool | None = None,
        new_priority: Priority | str | None = None,
    ) -> RetryResult:
        """Retry a failed or cancelled task (while ``retry_count < max_retries``)."""
        return await self._t.call(api.retry_task(task, reset_progress, clear_errors, new_priority))


class Stats:
    """``ac.stats``: the brand's queue and task-type statistics."""

    def __init__(self, t: AsyncTransport):
        self._t = t

    async def queues(
        self, *, created_after: api.TimeArg | None = None, created_before: api.TimeArg | None = None
    ) -> QueueStats:
        """``GET /tasks/queue-stats/``."""
        return await self._t.call(api.queue_stats(created_after, created_before))

    async def types(
        self, *, created_after: api.TimeArg | None = None, created_before: api.TimeArg | None = None
    ) -> TypeStats:
        """``GET /tasks/type-stats/``."""
        return await self._t.call(api.type_stats(created_after, created_before))


class Periodic:
    """``ac.periodic``: periodic tasks (cron or interval)."""

    def __init__(self, t: AsyncTransport):
        self._t = t

    async def create(self, **fields: Unpack[api.PeriodicFields]) -> PeriodicTask:
        """Create one: ``name``, ``task_type`` and ``cron=`` or ``interval_seconds=``."""
        return await self._t.call(api.create_periodic(fields))

    async def list(self, *, page: int = 1, page_size: int = 100) -> list[PeriodicTask]:
        """One page of the brand's periodic tasks."""
        return await self._t.call(api.list_periodic(page, page_size))

    async def get(self, periodic_id: int) -> PeriodicTask:
        """One periodic task."""
        return await self._t.call(api.get_periodic(periodic_id))

    async def update(self, periodic_id: int, **fields: Unpack[api.PeriodicFields]) -> PeriodicTask:
        """Change the given fields."""
        return await self._t.call(api.update_periodic(periodic_id, fields))

    async def delete(self, periodic_id: int) -> None:
        """Delete it (the tasks it created stay)."""
        await self._t.call(api.delete_periodic(periodic_id))

    async def run_now(self, periodic_id: int) -> Task:
        """Create its task now, outside the schedule."""
        return await self._t.call(api.run_periodic_now(periodic_id))


class Cluster:
    """``ac.cluster`` (admin token)."""

    def __init__(self, t: AsyncTransport):
        self._t = t

    async def status(self) -> ClusterStatus:
        """This node's view of the cluster."""
        return await self._t.call(api.cluster_status())


class Workers:
    """``ac.workers``: the worker protocol itself (a worker token); :class:`Worker` uses it."""

    def __init__(self, t: AsyncTransport):
        self._t = t

    async def lease(
        self,
        worker_id: str,
        task_types: Sequence[str],
        *,
        max_tasks: int = 1,
        wait_seconds: int = 0,
    ) -> list[LeasedTask]:
        """Lease up to ``max_tasks``, waiting up to ``wait_seconds`` (0 to 30) for one."""
        timeout = self._t.settings.timeout + wait_seconds
        return await self._t.call(
            api.lease(worker_id, task_types, max_tasks, wait_seconds, timeout)
        )

    async def heartbeat(self, task: int, lease_id: str, **report: Any) -> HeartbeatResult:
        """Renew the lease; ``progress_percentage``, ``checkpoint``, ``metrics`` optional."""
        return await self._t.call(api.heartbeat(task, {"lease_id": lease_id, **report}))

    async def complete(
        self, task: int, lease_id: str, result_data: Any = None, **report: Any
    ) -> None:
        """Report success."""
        body = {"lease_id": lease_id, "result_data": result_data, **report}
        await self._t.call(api.complete(task, body))

    async def fail(
        self, task: int, lease_id: str, error_message: str, *, retryable: bool = True, **report: Any
    ) -> FailResult:
        """Report a failure; ``retryable=False`` fails the task for good."""
        body = {"lease_id": lease_id, "error_message": error_message, "retryable": retryable}
        return await self._t.call(api.fail(task, {**body, **report}))

    async def complete_many(self, completions: Sequence[dict[str, Any]]) -> list[ApiError | None]:
        """Report up to 100 successes at once (``id``, ``lease_id``, ``result_data``, ``metrics``).

        One result per report, in order: ``None`` when applied, else the error it got alone
        (a :class:`LeaseLost` for a lost lease); each is fenced by its own lease.
        """
        return await self._t.call(api.complete_many(completions))

    async def release(self, task: int, lease_id: str, **report: Any) -> None:
        """Give the task back unfinished (``reason``, ``checkpoint`` optional)."""
        await self._t.call(api.release(task, {"lease_id": lease_id, **report}))


class AsyncClient:
    """An asynchronous client of a Task Core cluster (use ``async with`` or ``await aclose()``).

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
        self._transport = AsyncTransport(Settings.of(urls, token, brand_id, timeout, retries))
        self.tasks = Tasks(self._transport)
        self.stats = Stats(self._transport)
        self.periodic = Periodic(self._transport)
        self.cluster = Cluster(self._transport)
        self.workers = Workers(self._transport)

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
