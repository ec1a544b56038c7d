"""Prefect flows: orchestration only (retries, artifacts, progress). The work lives in the umedata library."""
