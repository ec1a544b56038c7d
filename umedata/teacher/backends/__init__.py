"""What goes over the wire to a teacher, behind one interface: `await backend.answer(request) -> Answer`.

    base.py           Answer, Reply, TransportError, the Backend protocol, the one RETRYABLE_STATUS set
    openai_compat.py  any OpenAI-compatible server (vLLM, SGLang, OpenAI), several endpoints spread, limits, retries
    inline.py         media references -> data URLs (for a request sent now or written to a Batch API file)

Backends know requests and answers only; runs, leases and the warehouse are the consumers' business
(online.py drives a backend, offline.py and batch.py need none).
"""

from __future__ import annotations

from umedata.teacher.backends.base import Answer, Backend, FatalEndpointError, Reply, TransportError

__all__ = ["Answer", "Backend", "FatalEndpointError", "Reply", "TransportError"]
