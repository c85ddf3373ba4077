"""Sending a :class:`Call` to one of the nodes: failover, retries with back-off, errors.

Any node serves any request, so a list of URLs is tried in turn: a refused connection or a
``503`` moves to the next node. What is retried:

- a refused or failed connection (nothing was sent): every call;
- a ``503 UNAVAILABLE`` (after its ``Retry-After``), a timeout or a dropped answer: only calls
  that may be replayed (reads, creates under their idempotency key, a worker's fenced reports).

Each retry waits an exponential back-off with jitter (``backoff`` doubling up to ``max_backoff``);
after ``retries`` retries the last error is raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ._api import Call
from ._errors import ApiError, TransportError, error_for

T = TypeVar("T")

log = logging.getLogger("taskcore.client")

USER_AGENT = "taskcore-python/0.1.0"


@dataclass(frozen=True)
class Settings:
    """How a client talks to the nodes."""

    urls: tuple[str, ...]
    token: str
    brand_id: int | None = None
    timeout: float = 10.0
    retries: int = 4
    backoff: float = 0.1
    max_backoff: float = 2.0

    @staticmethod
    def of(
        urls: str | Sequence[str],
        token: str,
        brand_id: int | None,
        timeout: float,
        retries: int,
    ) -> Settings:
        listed = (urls,) if isinstance(urls, str) else tuple(urls)
        if not listed:
            raise ValueError("at least one node URL is needed")
        clean = tuple(u.rstrip("/") for u in listed)
        return Settings(clean, token, brand_id, timeout, max(0, retries))

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": USER_AGENT}
        if self.brand_id is not None:
            headers["X-Brand-ID"] = str(self.brand_id)
        return headers


class _Retry(Exception):
    """This attempt failed in a way another attempt (maybe on another node) may not."""

    def __init__(self, error: Exception, wait: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), 30.0) if value is not None else None
    except ValueError:
        return None


def _outcome(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the error the contract's table gives it (``_Retry`` if retryable)."""
    if response.is_success:
        body: Any = response.json() if response.content else None
        return call.parse(body)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    error: ApiError = error_for(response.status_code, body, _retry_after(response))
    if response.status_code == 503 and call.replayable:
        raise _Retry(error, error.retry_after)
    raise error


def _classify(call: Call[Any], e: httpx.HTTPError) -> _Retry:
    """Whether a transport error may be retried; raises the final error otherwise."""
    if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout)) or call.replayable:
        return _Retry(TransportError(f"{call.method} {call.path}: {e!r}"))
    raise TransportError(
        f"{call.method} {call.path}: {e!r}; it may or may not have been applied"
    ) from e


class _Base:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._headers = settings.headers()
        self._node = 0

    def _url(self, call: Call[Any]) -> str:
        return self.settings.urls[self._node % len(self.settings.urls)] + call.path

    def _next_node(self) -> None:
        self._node = (self._node + 1) % len(self.settings.urls)

    def _wait(self, attempt: int, retry: _Retry) -> float:
        s = self.settings
        backoff = min(s.max_backoff, s.backoff * (2.0**attempt)) * (0.5 + random.random())
        return max(backoff, retry.wait or 0.0)

    def _options(self, call: Call[Any]) -> dict[str, Any]:
        """The request's query, body, headers and timeout."""
        return {
            "params": call.params,
            "json": call.json if call.method not in ("GET", "DELETE") else None,
            "headers": {**self._headers, **call.headers},
            "timeout": call.timeout if call.timeout is not None else self.settings.timeout,
        }


class SyncTransport(_Base):
    """Blocking sends over one ``httpx.Client``."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None):
        super().__init__(settings)
        self.http = http or httpx.Client()

    def call(self, call: Call[T]) -> T:
        for attempt in range(self.settings.retries + 1):
            try:
                return self._once(call)
            except _Retry as retry:
                if attempt == self.settings.retries:
                    raise retry.error from None
                self._next_node()
                wait = self._wait(attempt, retry)
                log.debug("retrying %s %s in %.2fs: %s", call.method, call.path, wait, retry)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, call: Call[T]) -> T:
        try:
            response = self.http.request(call.method, self._url(call), **self._options(call))
        except httpx.HTTPError as e:
            raise _classify(call, e) from e
        return _outcome(call, response)

    def close(self) -> None:
        self.http.close()


class AsyncTransport(_Base):
    """Asynchronous sends over one ``httpx.AsyncClient``."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None):
        super().__init__(settings)
        self.http = http or httpx.AsyncClient()

    async def call(self, call: Call[T]) -> T:
        for attempt in range(self.settings.retries + 1):
            try:
                return await self._once(call)
            except _Retry as retry:
                if attempt == self.settings.retries:
                    raise retry.error from None
                self._next_node()
                wait = self._wait(attempt, retry)
                log.debug("retrying %s %s in %.2fs: %s", call.method, call.path, wait, retry)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _once(self, call: Call[T]) -> T:
        try:
            response = await self.http.request(call.method, self._url(call), **self._options(call))
        except httpx.HTTPError as e:
            raise _classify(call, e) from e
        return _outcome(call, response)

    async def aclose(self) -> None:
        await self.http.aclose()
