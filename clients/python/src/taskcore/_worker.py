"""The worker: leases tasks, runs their handlers, keeps their leases, reports how they ended.

It does what ``taskcore worker`` does: one long-poll lease for as many tasks as it has free
slots; a heartbeat a third of the way into each lease carrying progress, checkpoint and metrics;
fenced reports (a ``LeaseLost`` ends the attempt quietly); cancellation noticed within one
heartbeat; a failure sends the last checkpoint first; at shutdown (``SIGTERM``, ctrl-c or
:meth:`Worker.stop`) it stops leasing, lets running attempts finish for ``shutdown_grace``
seconds and gives the others back (released: pending again, no retry spent). A second signal
gives them back at once.

Plain functions run in a thread pool of ``concurrency`` threads; ``async def`` handlers run on
the worker's event loop. Successes that finish while a report is on its way are reported
together in the next one (``POST /workers/complete/``, up to 100): a busy worker makes one
request, and the leader one write, for many of them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ._async_client import AsyncClient
from ._errors import ApiError, LeaseLost, TaskCoreError
from ._job import Job, PermanentFailure
from ._models import Json, LeasedTask

log = logging.getLogger("taskcore.worker")

Handler = Callable[[Job], Any]
F = TypeVar("F", bound=Handler)


class Worker:
    """Runs the handlers registered with :meth:`task` for tasks leased from ``urls``."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        token: str,
        worker_id: str | None = None,
        concurrency: int = 4,
        wait_seconds: int = 30,
        shutdown_grace: float = 30.0,
        timeout: float = 10.0,
        retries: int = 4,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.urls = urls
        self.token = token
        self.worker_id = worker_id or f"py-{socket.gethostname()}-{os.getpid()}"
        self.concurrency = concurrency
        self.wait_seconds = max(0, min(30, wait_seconds))
        self.shutdown_grace = shutdown_grace
        self.timeout = timeout
        self.retries = retries
        self._handlers: dict[str, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._give_back: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._completions: _Completions | None = None
        # Handlers running (or about to); a slot frees when its handler ends, while its report
        # may still be on its way: at most ``concurrency`` reports wait at a time.
        self._running = 0
        self._slot_freed = asyncio.Event()
        self._reporting: asyncio.Semaphore | None = None

    def task(self, task_type: str) -> Callable[[F], F]:
        """Registers the decorated function as the handler of ``task_type``."""

        def register(handler: F) -> F:
            self._handlers[task_type] = handler
            return handler

        return register

    def run(self) -> None:
        """Runs until stopped (``SIGTERM``/``SIGINT`` in the main thread, or :meth:`stop`)."""
        asyncio.run(
            self.run_async(install_signals=threading.current_thread() is threading.main_thread())
        )

    def stop(self) -> None:
        """Asks the worker to stop, from any thread; a second call gives tasks back at once."""
        first = not self._stop_requested.is_set()
        self._stop_requested.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_stop, first)

    def _on_stop(self, first: bool) -> None:
        if self._stopping is not None and not self._stopping.is_set():
            log.info("stopping: no more leases; running attempts get %.0fs", self.shutdown_grace)
            self._stopping.set()
        elif not first and self._give_back is not None:
            self._give_back.set()

    async def run_async(self, *, install_signals: bool = False) -> None:
        """The worker's loop, on the running event loop."""
        if not self._handlers:
            raise ValueError('no handler registered: use @worker.task("type")')
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._give_back = asyncio.Event()
        if self._stop_requested.is_set():
            self._stopping.set()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self.stop)
        executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="taskcore-job")
        client = AsyncClient(
            self.urls, token=self.token, timeout=self.timeout, retries=self.retries
        )
        attempts: set[asyncio.Task[None]] = set()
        self._completions = _Completions(client)
        self._reporting = asyncio.Semaphore(self.concurrency)
        self._slot_freed = asyncio.Event()
        log.info("worker %s started: %s", self.worker_id, ", ".join(sorted(self._handlers)))
        try:
            await self._lease_loop(client, executor, attempts)
            await self._drain(attempts)
        finally:
            await self._completions.aclose()
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(sig)
            await client.aclose()
            executor.shutdown(wait=False, cancel_futures=True)
            log.info("worker %s stopped", self.worker_id)

    async def _lease_loop(
        self, client: AsyncClient, executor: ThreadPoolExecutor, attempts: set[asyncio.Task[None]]
    ) -> None:
        assert self._stopping is not None
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            # Lease when a quarter of the slots are free (or none is busy), so that one lease
            # request, one Raft write, serves several tasks under load.
            batch = max(1, self.concurrency // 4)
            while not self._stopping.is_set():
                free = self.concurrency - self._running
                if free < batch and self._running:
                    self._slot_freed.clear()
                    freed = asyncio.ensure_future(self._slot_freed.wait())
                    await asyncio.wait({stop, freed}, return_when=asyncio.FIRST_COMPLETED)
                    freed.cancel()
                    continue
                lease = asyncio.ensure_future(
                    client.workers.lease(
                        self.worker_id,
                        sorted(self._handlers),
                        max_tasks=free,
                        wait_seconds=self.wait_seconds,
                    )
                )
                await asyncio.wait({stop, lease}, return_when=asyncio.FIRST_COMPLETED)
                if not lease.done():
                    # Tasks a cancelled long poll may still lease come back when it runs out.
                    lease.cancel()
                    break
                try:
                    leased = lease.result()
                except TaskCoreError as e:
                    log.warning("lease failed: %s", e)
                    await asyncio.wait({stop}, timeout=1.0)
                    continue
                for lt in leased:
                    self._running += 1
                    attempt = asyncio.ensure_future(self._attempt(client, executor, lt))
                    attempts.add(attempt)
                    attempt.add_done_callback(attempts.discard)
        finally:
            stop.cancel()

    async def _drain(self, attempts: set[asyncio.Task[None]]) -> None:
        """Lets the running attempts end, for ``shutdown_grace`` seconds at most or until a
        second stop; then gives back those still running and waits for their reports."""
        assert self._give_back is not None
        if not attempts:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_grace
        give_back = asyncio.ensure_future(self._give_back.wait())
        running = set(attempts)
        try:
            while running and not give_back.done():
                left = deadline - loop.time()
                if left <= 0:
                    break
                await asyncio.wait(
                    {give_back, *running}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                running = {a for a in running if not a.done()}
        finally:
            give_back.cancel()
        self._give_back.set()
        await asyncio.gather(*attempts, return_exceptions=True)

    async def _attempt(
        self, client: AsyncClient, executor: ThreadPoolExecutor, leased: LeasedTask
    ) -> None:
        freed = False

        def free() -> None:
            nonlocal freed
            if not freed:
                freed = True
                self._running -= 1
                self._slot_freed.set()

        try:
            await self._run_attempt(client, executor, leased, free)
        finally:
            free()

    async def _run_attempt(
        self,
        client: AsyncClient,
        executor: ThreadPoolExecutor,
        leased: LeasedTask,
        free_slot: Callable[[], None],
    ) -> None:
        assert self._give_back is not None
        job = Job(leased)
        ttl = _lease_ttl(leased)
        handler = self._handlers.get(job.task_type)
        started = time.monotonic()
        log.info("attempt started", extra={"task_id": job.task_id, "attempt": job.attempt})
        beats = asyncio.ensure_future(self._heartbeats(client, job, ttl / 3))
        give_back = asyncio.ensure_future(self._give_back.wait())
        try:
            if handler is None:
                outcome: tuple[str, Any] = (
                    "error",
                    RuntimeError(f"no handler for {job.task_type}"),
                )
            else:
                work, in_thread = _start(handler, job, executor)
                await asyncio.wait({work, beats, give_back}, return_when=asyncio.FIRST_COMPLETED)
                outcome = await self._ending(job, work, in_thread, give_back)
        finally:
            beats.cancel()
            give_back.cancel()
        assert self._reporting is not None
        # The handler is done: its slot goes to the next task once this report may wait with
        # the others (so that a slow cluster slows leasing down).
        ms = int((time.monotonic() - started) * 1000)
        if outcome[0] == "abandoned":
            # Nothing to report: no place among the reports is taken.
            free_slot()
            await self._report(client, job, outcome, ms)
            return
        async with self._reporting:
            free_slot()
            await self._report(client, job, outcome, ms)

    async def _ending(
        self, job: Job, work: asyncio.Future[Any], in_thread: bool, give_back: asyncio.Future[Any]
    ) -> tuple[str, Any]:
        """How the attempt ended: ``("ok", result)``, ``("error", exc)``, ``("abandoned", why)``
        or ``("give_back", None)``.

        An ``async def`` handler that must stop is cancelled. A thread cannot be: it sees
        ``job.cancelled``; a cancelled or lost attempt keeps its slot until it returns (so that
        ``concurrency`` holds), a given-back one is released at once (the worker is stopping).
        """
        if not work.done():
            why = job.cancel_reason or ("give_back" if give_back.done() else "cancelled")
            job._cancel(why)
            if not in_thread:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            elif why != "give_back":
                await asyncio.gather(work, return_exceptions=True)
            return ("give_back", None) if why == "give_back" else ("abandoned", why)
        if job.cancelled:
            return "abandoned", job.cancel_reason
        exc = work.exception()
        return ("error", exc) if exc is not None else ("ok", work.result())

    async def _heartbeats(self, client: AsyncClient, job: Job, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            why = await self._heartbeat(client, job)
            if why is not None:
                job._cancel(why)
                return

    async def _heartbeat(self, client: AsyncClient, job: Job) -> str | None:
        """Sends the job's reports; why the attempt must stop, if it must."""
        body, seq = job._heartbeat_body()
        try:
            answer = await client.workers.heartbeat(job.id, **body)
        except LeaseLost:
            return "lease lost"
        except TaskCoreError as e:
            log.warning("heartbeat failed: %s", e, extra={"task_id": job.task_id})
            return None
        job._sent(seq)
        return "cancelled" if answer.cancel_requested else None

    async def _report(
        self, client: AsyncClient, job: Job, outcome: tuple[str, Any], ms: int
    ) -> None:
        kind, value = outcome
        extra = {"task_id": job.task_id, "attempt": job.attempt}
        metrics = job._final_metrics(ms)
        try:
            if kind == "ok":
                assert self._completions is not None
                await self._completions.report(
                    {
                        "id": job.id,
                        "lease_id": job.lease_id,
                        "result_data": _json(value),
                        "metrics": metrics,
                    }
                )
                log.info("attempt completed", extra=extra)
            elif kind == "error":
                permanent = isinstance(value, PermanentFailure)
                if not permanent and (await self._flush_checkpoint(client, job)) is not None:
                    return
                message = str(value) if permanent else f"{type(value).__name__}: {value}"
                log.log(
                    logging.INFO if permanent else logging.WARNING,
                    "attempt failed: %s",
                    message,
                    extra=extra,
                    exc_info=None if permanent else value,
                )
                await client.workers.fail(
                    job.id, job.lease_id, message, retryable=not permanent, metrics=metrics
                )
            elif kind == "give_back":
                unsent, checkpoint = job._unsent_checkpoint()
                body: dict[str, Json] = {
                    "reason": "the worker shut down before the attempt finished"
                }
                if unsent:
                    body["checkpoint"] = checkpoint
                await client.workers.release(job.id, job.lease_id, **body)
                log.info("attempt given back", extra=extra)
            else:
                log.info("attempt abandoned: %s", value, extra=extra)
        except LeaseLost:
            log.info("the attempt's lease was lost; its report is refused", extra=extra)
        except ApiError as e:
            log.warning("cannot report the attempt: %s %s", e, e.field_errors or "", extra=extra)
        except TaskCoreError as e:
            log.warning("cannot report the attempt: %s", e, extra=extra)

    async def _flush_checkpoint(self, client: AsyncClient, job: Job) -> str | None:
        """Sends a checkpoint the heartbeats have not yet, so that the retry resumes from it."""
        unsent, _ = job._unsent_checkpoint()
        return await self._heartbeat(client, job) if unsent else None


class _Completions:
    """Reports successes together: those that finish while a report is on its way go in the
    next request (at most 100). One request is in flight at a time; a success that finishes
    alone is reported at once. Each report hears the error it would have heard alone. Against
    a node without ``POST /workers/complete/`` (an older version) they go one by one."""

    MAX_PER_REQUEST = 100

    def __init__(self, client: AsyncClient):
        self._client = client
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None]]] = asyncio.Queue()
        self._one_by_one = False
        self._sender = asyncio.ensure_future(self._send())

    async def report(self, completion: dict[str, Any]) -> None:
        """Reports one success (``id``, ``lease_id``, ``result_data``, ``metrics``); raises
        what reporting it alone would have raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((completion, done))
        await done

    async def aclose(self) -> None:
        """Stops the sender (every report has been answered by then: the attempts awaited them)."""
        self._sender.cancel()
        await asyncio.gather(self._sender, return_exceptions=True)

    async def _send(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.MAX_PER_REQUEST and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._send_batch(batch)
            except asyncio.CancelledError:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(TaskCoreError("the worker stopped before reporting"))
                raise

    async def _send_batch(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        workers = self._client.workers
        if not self._one_by_one:
            try:
                answers = await workers.complete_many([c for c, _ in batch])
            except ApiError as e:
                if e.status not in (404, 405):
                    _answer_all(batch, e)
                    return
                log.info("the node takes no batched completions: reporting one by one")
                self._one_by_one = True
            except TaskCoreError as e:
                _answer_all(batch, e)
                return
            else:
                if len(answers) != len(batch):
                    _answer_all(batch, TaskCoreError("the answer does not match the reports"))
                    return
                for (_, done), error in zip(batch, answers, strict=True):
                    _settle(done, error)
                return
        for c, done in batch:
            report = {k: v for k, v in c.items() if k not in ("id", "lease_id", "result_data")}
            try:
                await workers.complete(c["id"], c["lease_id"], c["result_data"], **report)
            except TaskCoreError as e:
                _settle(done, e)
            else:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _answer_all(batch: list[tuple[dict[str, Any], asyncio.Future[None]]], error: Exception) -> None:
    for _, done in batch:
        _settle(done, error)


def _start(
    handler: Handler, job: Job, executor: ThreadPoolExecutor
) -> tuple[asyncio.Future[Any], bool]:
    """The handler running: on the loop (``async def``) or in a thread; whether in a thread."""
    if inspect.iscoroutinefunction(handler):
        coroutine: Awaitable[Any] = handler(job)
        return asyncio.ensure_future(coroutine), False
    return asyncio.get_running_loop().run_in_executor(executor, handler, job), True


def _lease_ttl(leased: LeasedTask) -> float:
    """The lease's lifetime as the server set it (both ends are the server's times)."""
    start = leased.task.started_at
    if start is None:
        return 30.0
    seconds = (leased.lease_expires_at - start).total_seconds()
    return seconds if seconds > 0 else 30.0


def _json(value: Any) -> Json:
    """The handler's result as ``result_data``, which the contract wants an object: a dict as
    it is, ``None`` as ``{}``, anything else as ``{"result": value}``."""
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"result": value}
