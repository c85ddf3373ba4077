"""What a handler gets: the task's data, and ways to report progress, checkpoints and metrics."""

from __future__ import annotations

import threading
from typing import Any

from ._models import Json, LeasedTask, Task

_METRIC_FIELDS = ("memory_usage_mb", "cpu_time_ms", "execution_time_ms")


class PermanentFailure(Exception):
    """Raise from a handler to fail the task for good (no retry). Any other exception retries."""


class Job:
    """One attempt of one task, as its handler sees it.

    Reports (``progress``, ``save_checkpoint``, ``metrics``) are kept and sent with the next
    heartbeat, a third of the way into the lease; a handler may call them from any thread.
    ``cancelled`` turns true when a heartbeat hears that the task was cancelled, when the lease
    was lost, or when the worker gives the task back at shutdown: the handler should return soon
    (its result is then not reported).
    """

    def __init__(self, leased: LeasedTask):
        task = leased.task
        self.task: Task = task
        self.id: int = task.id
        self.task_id: str = task.task_id
        self.task_type: str = task.task_type
        self.attempt: int = leased.attempt
        self.lease_id: str = leased.lease_id
        self.context_data: dict[str, Json] = task.context_data
        job = task.persistent_job
        self.checkpoint: Json = job.checkpoint if job is not None and job.can_resume else None
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self.cancel_reason: str | None = None
        self._progress: int | None = None
        self._checkpoint: Json = None
        self._checkpoint_seq = 0
        self._sent_checkpoint_seq = 0
        self._metrics: dict[str, Any] = {}
        self._custom: dict[str, Json] = {}

    @property
    def cancelled(self) -> bool:
        """Whether the handler should stop (cancelled, lease lost, or given back)."""
        return self._cancelled.is_set()

    def progress(self, percentage: int) -> None:
        """The attempt's progress, 0 to 100."""
        with self._lock:
            self._progress = max(0, min(100, int(percentage)))

    def save_checkpoint(self, checkpoint: Json) -> None:
        """A JSON value the next attempt resumes from (``job.checkpoint``) if this one fails."""
        with self._lock:
            self._checkpoint = checkpoint
            self._checkpoint_seq += 1

    def metrics(self, **figures: Any) -> None:
        """``memory_usage_mb``, ``cpu_time_ms``, and any other figure (kept under ``custom``)."""
        with self._lock:
            for key, value in figures.items():
                if key in _METRIC_FIELDS:
                    self._metrics[key] = value
                else:
                    self._custom[key] = value

    def _cancel(self, why: str) -> None:
        if not self._cancelled.is_set():
            self.cancel_reason = why
            self._cancelled.set()

    def _heartbeat_body(self) -> tuple[dict[str, Json], int]:
        """The next heartbeat's body, and the checkpoint sequence number it carries."""
        with self._lock:
            body: dict[str, Json] = {"lease_id": self.lease_id}
            if self._progress is not None:
                body["progress_percentage"] = self._progress
            if self._checkpoint_seq != self._sent_checkpoint_seq:
                body["checkpoint"] = self._checkpoint
            metrics = self._metrics_body(None)
            if metrics:
                body["metrics"] = metrics
            return body, self._checkpoint_seq

    def _sent(self, seq: int) -> None:
        with self._lock:
            self._sent_checkpoint_seq = max(self._sent_checkpoint_seq, seq)

    def _unsent_checkpoint(self) -> tuple[bool, Json]:
        with self._lock:
            return self._checkpoint_seq != self._sent_checkpoint_seq, self._checkpoint

    def _metrics_body(self, execution_time_ms: int | None) -> dict[str, Json]:
        body: dict[str, Json] = dict(self._metrics)
        if execution_time_ms is not None:
            body.setdefault("execution_time_ms", execution_time_ms)
        if self._custom:
            body["custom"] = dict(self._custom)
        return body

    def _final_metrics(self, execution_time_ms: int) -> dict[str, Json]:
        with self._lock:
            return self._metrics_body(execution_time_ms)

    def __repr__(self) -> str:
        return f"Job({self.task_id}, type={self.task_type!r}, attempt={self.attempt})"
