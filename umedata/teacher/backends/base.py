"""What every online backend returns, and the errors a transport may raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from umedata.teacher.keys import PreparedRequest

# HTTP statuses worth another attempt (online) or a later run (Batch API results): timeouts, conflicts, rate limits
# and server-side failures, including the gateway codes of common proxies (520-529). Everything else is final.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
OVERLOAD_STATUS = frozenset({429, 503, 529})  # the server asks for less load: adaptive concurrency backs off
FATAL_STATUS = frozenset({401, 403, 404})  # bad key or unknown model: stop the run, keep the keys


@dataclass(slots=True)
class Reply:
    """A 200 answer: the decoded body and the body text exactly as received (stored for reparse)."""

    body: dict[str, Any]
    raw: str
    latency_s: float
    status: int = 200
    headers: Mapping[str, str] | None = None


class TransportError(Exception):
    """A request that got no usable answer. `kind` becomes the failure reason (http_503, timeout, ...)."""

    def __init__(
        self,
        kind: str,
        detail: str = "",
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        overload: bool = False,
    ):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.overload = overload


class FatalEndpointError(RuntimeError):
    """The endpoint refuses us as a whole (bad credentials, unknown model): stop the run, keep the keys."""


@dataclass(slots=True)
class Answer:
    reply: Reply | None
    error: TransportError | None
    attempts: int
    endpoint: str | None
    elapsed_s: float

    @property
    def latency_s(self) -> float | None:
        return self.reply.latency_s if self.reply else None


class Backend(Protocol):
    name: str
    workers: int  # how many requests the runner should keep in flight

    def eligible(self, request: PreparedRequest) -> bool:
        """May this request go to this backend (allow_external_teacher vs self-hosted endpoints)?"""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def answer(self, request: PreparedRequest) -> Answer: ...

    def stats(self) -> dict[str, Any]: ...
