"""API keys: read at run time from the environment or a Prefect Secret block, held in memory only.

A key never enters the config, the warehouse, a log line, an artifact or a flow parameter: configs name the
variable (or block) that holds it, and every error text that leaves a backend goes through `redact` first, in
case a server echoes a header back.
"""

from __future__ import annotations

import os
import threading

from umedata.errors import UserError
from umedata.teacher.config import EndpointConfig

_known: set[str] = set()
_lock = threading.Lock()


class MissingCredential(UserError, RuntimeError):
    pass


def resolve_api_key(endpoint: EndpointConfig) -> str | None:
    """The endpoint's key from $api_key_env, else from the Prefect Secret block api_key_secret, else None."""
    key: str | None = None
    if endpoint.api_key_env:
        key = os.environ.get(endpoint.api_key_env)
        if not key and not endpoint.api_key_secret:
            raise MissingCredential(
                f"endpoint {endpoint.name!r}: environment variable {endpoint.api_key_env} is not set"
            )
    if not key and endpoint.api_key_secret:
        from prefect.blocks.system import Secret  # lazy: the library works without Prefect

        key = Secret.load(endpoint.api_key_secret).get()
    if key:
        remember(key)
    return key or None


def remember(secret: str) -> None:
    """Register a secret so that `redact` masks it wherever it might show up."""
    if len(secret) >= 4:
        with _lock:
            _known.add(secret)


def redact(text: str | None) -> str | None:
    if not text or not _known:
        return text
    for secret in list(_known):
        if secret in text:
            text = text.replace(secret, "***")
    return text
