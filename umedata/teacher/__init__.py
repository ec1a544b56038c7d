"""The teacher: a VLM writes a reasoning trace and a summary for each side, exactly once per request key.

One producer, three consumers, one set of books:

    prompts/*.md, prompts.py   versioned templates (prompt_version = hash of the template text)
    config.py                  the TOML config (backend, model, params, media bounds, endpoints, limits, prices)
    keys.py                    request keys (media by hash) and leases
    producer.py                pending sides -> prepared requests leased to a run, a chunk at a time
    online.py                  consumer: sends them to OpenAI-compatible endpoints (backends/), pipelined
    offline.py                 consumer: the deterministic stand-in for the demo and tests
    batch.py                   consumer: Batch API request files out; import of their results
    run.py                     what every run shares: Selection, the teacher_runs record, judging + tallies
    results.py                 result rows, committed through the warehouse's door; reparse (zero requests)
    annotate.py                make_run: the consumer the config's backend names (the CLI and flow start here)
    backends/                  the wire: OpenAI-compatible transport, retries, media as data URLs
    limits.py                  retries (tenacity), RPM/TPM buckets, adaptive concurrency
    answers.py                 judging a response with umedata.format (ok, or a bad answer and its reason)
    accounting.py              tokens and cost
    credentials.py             API keys from the environment or the caller's secret loader, never stored
    report.py                  a run's report (markdown, accounting rows)

Imports point one way: keys and backends/ <- results <- run <- producer <- online/offline/batch <- annotate;
backends never import a run, and nothing here imports Prefect. Importing this package imports nothing heavy.
"""
