"""API keys: read at run time from the environment or through a secret loader the caller passes, held in memory only.

A key never enters the config, the warehouse, a log line, an artifact or a flow parameter: configs name the
environment variable (`api_key_env`) or the secret (`api_key_secret`) that holds it. The library reads
environment variables itself; a named secret is read by the `secret_loader` its caller hands in (the annotate
flow passes one that reads Prefect Secret blocks), so the library never depends on where secrets are kept. Every
error text that leaves a backend goes through `redact` first, in case a server echoes a header back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from umedata.errors import UserError
from umedata.teacher.config import EndpointConfig

SecretLoader = Callable[[str], str]

_known: set[str] = set()
_lock = threading.Lock()


class MissingCredential(UserError, RuntimeError):
    pass


def resolve_api_key(endpoint: EndpointConfig, secret_loader: SecretLoader | None = None) -> str | None:
    """The endpoint's key from $api_key_env, else from `secret_loader(api_key_secret)`, else None (no key)."""
    key: str | None = None
    if endpoint.api_key_env:
        key = os.environ.get(endpoint.api_key_env)
        if not key and not endpoint.api_key_secret:
            raise MissingCredential(
                f"endpoint {endpoint.name!r}: environment variable {endpoint.api_key_env} is not set"
            )
    if not key and endpoint.api_key_secret:
        if secret_loader is None:
            env = f"${endpoint.api_key_env}" if endpoint.api_key_env else "an environment variable named in api_key_env"
            raise MissingCredential(
                f"endpoint {endpoint.name!r}: its key is the secret {endpoint.api_key_secret!r}, which only the "
                f"annotate flow (flows/annotate.py) reads; set {env} instead, or run the flow"
            )
        key = secret_loader(endpoint.api_key_secret)
        if not key:
            raise MissingCredential(f"endpoint {endpoint.name!r}: the secret {endpoint.api_key_secret!r} is empty")
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
