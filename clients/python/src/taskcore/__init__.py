"""Task Core for Python: a typed client (blocking and asyncio) and a worker.

>>> from taskcore import Client
>>> c = Client("http://127.0.0.1:8080", token=TOKEN, brand_id=9)   # doctest: +SKIP
>>> c.tasks.create(task_type="data_export", description="monthly")  # doctest: +SKIP
"""

from ._api import TaskFields
from ._async_client import AsyncClient
from ._client import Client
from ._errors import (
    ApiError,
    AuthenticationFailed,
    IdempotencyKeyReused,
    InvalidOperation,
    LeaseLost,
    MaxRetriesExceeded,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    TaskCoreError,
    TransportError,
    Unavailable,
    ValidationError,
)
from ._job import Job, PermanentFailure
from ._models import (
    Attempt,
    Brand,
    CancelResult,
    ClusterStatus,
    LeasedTask,
    Page,
    PeriodicTask,
    PersistentJob,
    Priority,
    QueueStats,
    RetryResult,
    Schedule,
    Status,
    Task,
    TaskMetrics,
    TypeStats,
    User,
)
from ._worker import Worker

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AsyncClient",
    "Attempt",
    "AuthenticationFailed",
    "Brand",
    "CancelResult",
    "Client",
    "ClusterStatus",
    "IdempotencyKeyReused",
    "InvalidOperation",
    "Job",
    "LeaseLost",
    "LeasedTask",
    "MaxRetriesExceeded",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "PeriodicTask",
    "PermanentFailure",
    "PermissionDenied",
    "PersistentJob",
    "Priority",
    "QueueStats",
    "RetryResult",
    "Schedule",
    "Status",
    "Task",
    "TaskCoreError",
    "TaskFields",
    "TaskMetrics",
    "TransportError",
    "TypeStats",
    "Unavailable",
    "User",
    "ValidationError",
    "Worker",
    "__version__",
]
