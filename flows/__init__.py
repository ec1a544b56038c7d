"""Prefect flows: orchestration only (retries, artifacts, progress). The work lives in the umedata library.

Without a Prefect server, a flow run starts a temporary one in-process; on a busy machine that start can take
longer than Prefect's default 20 s and the run dies before doing anything. Unless the user set it, allow 10 min.
"""

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")
