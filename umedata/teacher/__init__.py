"""The teacher: a VLM writes a reasoning trace and a summary for each side, exactly once per request key.

    prompts/*.md, prompts.py   versioned templates (prompt_version = hash of the template text)
    config.py                  the TOML config (backend, model, params, media bounds, endpoints, limits, prices)
    keys.py                    request keys (media by hash) and leases
    backends/                  openai (OpenAI-compatible servers), batch (Batch API files), offline (stand-in)
    limits.py                  retries (tenacity), RPM/TPM buckets, adaptive concurrency
    answers.py                 judging a response with umedata.format (ok, or a bad answer and its reason)
    accounting.py              tokens and cost
    store.py                   result rows, staged commits, reparse
    runner.py                  a run: select, lease, send, judge, commit, pipelined
    credentials.py             API keys from the environment or a Prefect Secret block, never stored
    cli.py                     `umedata annotate`

Importing this package imports nothing heavy; the modules above are imported where used.
"""
