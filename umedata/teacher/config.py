"""Teacher configuration: one TOML file (or a `[teacher]` table inside a bigger one), read into dataclasses.

What the teacher *sees* (model, prompt templates, sampling params, media bounds) is part of every request key;
how requests are *sent* (endpoints, limits, retries, commit cadence) is not, so tuning throughput never re-sends a
finished request. API keys are never read from a file: an endpoint names the environment variable that holds its
key, or a secret by name that the caller's loader reads (the annotate flow reads Prefect Secret blocks).

    backend = "openai"                      # openai | batch | offline (no default: a run always says which)
    model = "Qwen/Qwen2.5-VL-72B-Instruct"
    max_in_flight = 256                     # global cap on requests in flight
    timeout_s = 120                         # per request (per attempt)
    max_attempts = 6                        # retryable HTTP errors and timeouts, exponential backoff + jitter
    lease_ttl_s = 900                       # a crashed run's leases become claimable after this
    commit_every = 2000                     # results per staged commit ...
    commit_interval_s = 2.0                 # ... or this often, whichever comes first, while committing stays
    commit_duty = 0.25                      # under this share of the time (pauses stretch as tables grow)
    commit_max_interval_s = 30.0

    [params]                                # sampling params: part of the request key
    temperature = 0.6
    max_tokens = 2048
    seed = 0

    [media]                                 # what the teacher is shown: part of the request key
    max_pixels = 1003520
    max_frames = 16

    [[endpoints]]
    name = "vllm-0"
    base_url = "http://gpu-0:8000/v1"
    self_hosted = true                      # may receive sources with allow_external_teacher = false
    api_key_env = "VLLM_API_KEY"            # or api_key_secret = "<Prefect Secret block name>"
    max_in_flight = 128                     # start (and ceiling) of this endpoint's adaptive concurrency
    rpm = 0                                 # 0 = no limit; x-ratelimit-* response headers lower it when sent
    tpm = 0
    transport = "aiohttp"                   # aiohttp (lean path) | sdk (the openai client)
    metrics_url = ""                        # a vLLM /metrics URL: its queue depth feeds adaptive concurrency

    [prices."gpt-4o-2024-08-06"]            # USD per million tokens
    input_per_mtok = 2.5
    output_per_mtok = 10.0
    batch_discount = 0.5
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from umedata.errors import UserError

BACKENDS = ("openai", "batch", "offline")
OFFLINE_MODEL = "offline-template"
TRANSPORTS = ("aiohttp", "sdk")
# Keys that would put a secret into a file someone may commit; refused outright.
_FORBIDDEN = {"api_key", "apikey", "key", "token", "authorization", "password"}


class ConfigError(UserError, ValueError):
    pass


@dataclass
class EndpointConfig:
    base_url: str
    name: str = ""
    self_hosted: bool = False
    api_key_env: str = ""
    api_key_secret: str = ""
    max_in_flight: int = 64
    rpm: float = 0.0
    tpm: float = 0.0
    served_model: str = ""
    transport: str = "aiohttp"
    metrics_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # extra non-secret headers

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"endpoint transport must be one of {TRANSPORTS}, not {self.transport!r}")
        parts = urlsplit(self.base_url)
        if parts.username or parts.password:
            raise ConfigError("credentials in base_url are not allowed; use api_key_env or api_key_secret")
        if not self.name:
            self.name = parts.netloc or self.base_url
        self.base_url = self.base_url.rstrip("/")
        for h in self.headers:
            if h.lower() in {"authorization", "api-key", "x-api-key"}:
                raise ConfigError(f"header {h!r} carries a secret; use api_key_env or api_key_secret")


@dataclass
class MediaConfig:
    max_pixels: int = 1_003_520  # 1280 Qwen2-VL patches of 28x28
    max_frames: int = 16

    def key_params(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AdaptiveConfig:
    enabled: bool = True
    min_limit: int = 1
    latency_tolerance: float = 2.0  # latency above this multiple of the baseline counts as overload
    decrease: float = 0.9  # multiplicative decrease on rising latency or queue depth
    overload_decrease: float = 0.5  # on 429/503/timeouts
    queue_target: int = 0  # vLLM num_requests_waiting tolerated before backing off


@dataclass
class Price:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    batch_discount: float = 0.5

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None, batch: bool = False) -> float | None:
        if prompt_tokens is None and completion_tokens is None:
            return None
        usd = ((prompt_tokens or 0) * self.input_per_mtok + (completion_tokens or 0) * self.output_per_mtok) / 1e6
        return usd * (self.batch_discount if batch else 1.0)


@dataclass
class BatchConfig:
    out_dir: str = "runs/teacher-batches"
    max_requests_per_file: int = 50_000  # the OpenAI Batch API's limits per file
    max_bytes_per_file: int = 200_000_000
    lease_ttl_s: float = 26 * 3600  # the Batch API's 24 h window plus margin
    endpoint: str = "/v1/chat/completions"
    self_hosted: bool = False  # a batch file goes to an external API unless said otherwise


@dataclass
class TeacherConfig:
    backend: str
    model: str = ""
    prompts_dir: str = ""  # empty: the templates shipped in umedata/teacher/prompts
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.6, "max_tokens": 2048, "seed": 0})
    media: MediaConfig = field(default_factory=MediaConfig)
    endpoints: list[EndpointConfig] = field(default_factory=list)
    prices: dict[str, Price] = field(default_factory=dict)
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    max_in_flight: int = 256
    timeout_s: float = 120.0
    max_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    lease_ttl_s: float = 900.0
    lease_chunk: int = 1024
    commit_every: int = 2000  # also the most keys one transaction lands (a backlog is committed in parts this size)
    commit_interval_s: float = 2.0
    commit_duty: float = 0.25  # at most this share of the time spent committing (pauses stretch to keep it)
    commit_max_interval_s: float = 30.0  # ... but never longer than this between commits
    include_negatives: bool = False

    def __post_init__(self) -> None:
        # Plain dicts (from TOML or a caller) become their dataclasses.
        if isinstance(self.media, dict):
            self.media = _build(MediaConfig, self.media)
        if isinstance(self.adaptive, dict):
            self.adaptive = _build(AdaptiveConfig, self.adaptive)
        if isinstance(self.batch, dict):
            self.batch = _build(BatchConfig, self.batch)
        self.endpoints = [_build(EndpointConfig, e) if isinstance(e, dict) else e for e in self.endpoints]
        self.prices = {m: _build(Price, p) if isinstance(p, dict) else p for m, p in self.prices.items()}
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, not {self.backend!r}")
        if self.backend == "offline":
            # The stand-in must never pass for a real teacher: its rows always carry an obviously fake model name.
            self.model = self.model or OFFLINE_MODEL
            if not self.model.startswith("offline"):
                raise ConfigError(f"the offline backend's model name must start with 'offline' (got {self.model!r})")
        elif not self.model:
            raise ConfigError(f"backend {self.backend!r} needs a model name")
        elif self.model.startswith("offline"):
            raise ConfigError("model names starting with 'offline' are reserved for the offline backend")
        if self.backend == "openai" and not self.endpoints:
            raise ConfigError("the openai backend needs at least one [[endpoints]] entry")
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ConfigError(f"endpoint names must be unique: {names}")
        if self.max_in_flight < 1 or self.max_attempts < 1:
            raise ConfigError("max_in_flight and max_attempts must be >= 1")
        if not 0 < self.commit_duty < 1:
            raise ConfigError("commit_duty must be between 0 and 1")

    # -- what goes into request keys -------------------------------------------------------------------------
    def key_params(self) -> dict[str, Any]:
        """Everything that changes what the teacher is asked: sampling params and media bounds."""
        return {"sampling": dict(self.params), "media": self.media.key_params()}

    def price(self, model: str | None = None) -> Price | None:
        return self.prices.get(model or self.model)

    def public(self) -> dict[str, Any]:
        """The config as recorded with a run: names of key variables, never their values (there are none here)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherConfig:
        data = dict(data.get("teacher", data))
        _refuse_secrets(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown teacher config keys: {sorted(unknown)}")
        if "backend" not in data:
            raise ConfigError("the teacher config must name its backend (openai | batch | offline)")
        return cls(**data)


def _build(kind, data: dict[str, Any]):
    known = {f.name for f in fields(kind)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
    return kind(**data)


def _refuse_secrets(data: Any, path: str = "") -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            if k.lower() in _FORBIDDEN and not path.startswith("params."):
                raise ConfigError(
                    f"{path + k!r}: secrets do not belong in config files; set api_key_env (an environment variable) "
                    "or api_key_secret (a Prefect Secret block name) instead"
                )
            _refuse_secrets(v, f"{path}{k}.")
    elif isinstance(data, list):
        for v in data:
            _refuse_secrets(v, path)


def load_config(path: str | Path | None = None, **overrides: Any) -> TeacherConfig:
    """Read a teacher TOML (optional) and apply overrides (CLI flags, flow parameters); None values are ignored."""
    data: dict[str, Any] = {}
    if path:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        data = dict(data.get("teacher", data))
    for k, v in overrides.items():
        if v is not None:
            data[k] = v
    return TeacherConfig.from_dict(data)
