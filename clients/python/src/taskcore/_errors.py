"""Errors: one class per row of the contract's error table, all under :class:`ApiError`."""

from __future__ import annotations

from typing import Any

from ._models import Status


class TaskCoreError(Exception):
    """Anything this package raises."""


class TransportError(TaskCoreError):
    """No node could be reached, or none answered in time, after every retry."""


class ApiError(TaskCoreError):
    """A node answered with an error body (``detail`` and ``error_code``)."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: float | None = None):
        self.status = status
        self.error_code: str = str(body.get("error_code", ""))
        self.detail: str = str(body.get("detail", ""))
        fields = body.get("field_errors")
        self.field_errors: dict[str, list[str]] | None = (
            {str(k): [str(m) for m in v] for k, v in fields.items()}
            if isinstance(fields, dict)
            else None
        )
        current = body.get("current_status")
        self.current_status: Status | None = Status(current) if current else None
        allowed = body.get("allowed_statuses")
        self.allowed_statuses: list[Status] | None = (
            [Status(s) for s in allowed] if isinstance(allowed, list) else None
        )
        self.retry_count: int | None = body.get("retry_count")
        self.max_retries: int | None = body.get("max_retries")
        self.retry_after = retry_after
        super().__init__(f"HTTP {status} {self.error_code}: {self.detail}")


class ValidationError(ApiError):
    """400: bad fields (``field_errors``), malformed JSON, or a missing brand."""


class AuthenticationFailed(ApiError):
    """401: no token, or a bad, expired or wrongly signed one."""


class PermissionDenied(ApiError):
    """403: a brand outside the token, another brand's task, or a missing role."""


class NotFound(ApiError):
    """404: no such task, periodic task or page."""


class InvalidOperation(ApiError):
    """409: not allowed in the task's status (``current_status``, ``allowed_statuses``)."""


class MaxRetriesExceeded(ApiError):
    """409: a retry with ``retry_count >= max_retries`` (both given)."""


class IdempotencyKeyReused(ApiError):
    """409: the same ``Idempotency-Key`` with another body."""


class LeaseLost(ApiError):
    """409: a worker's report under a lease that is not the task's current one."""


class PayloadTooLarge(ApiError):
    """413: a body over 1 MiB, or a write too large to replicate."""


class Unavailable(ApiError):
    """503: no leader reachable in time (``retry_after`` seconds suggested)."""


_BY_CODE: dict[str, type[ApiError]] = {
    "VALIDATION_ERROR": ValidationError,
    "PARSE_ERROR": ValidationError,
    "BRAND_REQUIRED": ValidationError,
    "NOT_AUTHENTICATED": AuthenticationFailed,
    "TOKEN_INVALID": AuthenticationFailed,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "INVALID_OPERATION": InvalidOperation,
    "MAX_RETRIES_EXCEEDED": MaxRetriesExceeded,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyKeyReused,
    "LEASE_LOST": LeaseLost,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge,
    "UNAVAILABLE": Unavailable,
}

_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    413: PayloadTooLarge,
    503: Unavailable,
}


def error_for(status: int, body: Any, retry_after: float | None = None) -> ApiError:
    """The error class the contract's table gives this answer (``ApiError`` otherwise)."""
    if not isinstance(body, dict):
        body = {"detail": str(body)[:500], "error_code": ""}
    cls = _BY_CODE.get(str(body.get("error_code", "")), _BY_STATUS.get(status, ApiError))
    return cls(status, body, retry_after)
