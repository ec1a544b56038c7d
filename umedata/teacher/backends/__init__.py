"""Teacher backends behind one interface: `await backend.answer(request) -> Answer`.

- `openai`  (openai_compat.py): any OpenAI-compatible base URL (vLLM, SGLang, OpenAI), several endpoints spread;
- `offline` (offline.py): a deterministic stand-in for the demo and tests, model name "offline-template";
- `batch`   (batch.py): not an online backend: exports Batch API request files and imports their results.
"""

from __future__ import annotations

from umedata.teacher.backends.base import Answer, Backend, FatalEndpointError, Reply, TransportError
from umedata.teacher.config import TeacherConfig

__all__ = ["Answer", "Backend", "FatalEndpointError", "Reply", "TransportError", "make_backend"]


def make_backend(cfg: TeacherConfig) -> Backend:
    if cfg.backend == "offline":
        from umedata.teacher.backends.offline import OfflineBackend

        return OfflineBackend(cfg)
    if cfg.backend == "openai":
        from umedata.teacher.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(cfg)
    raise ValueError(f"backend {cfg.backend!r} has no online mode; use export_batch / import_batch")
