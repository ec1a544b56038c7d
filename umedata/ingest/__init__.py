"""Ingest one source into the warehouse: canonical chunks in, sources/pairs/sides/media/annotations out.

Each step is a function over an Arrow table (run.py lists them and drives them). Rows that cannot be taken in
become `quarantine` rows (reason + detail, keyed by content so a re-ingest adds none) and their neighbours land;
a pair is refused whole when any of its sides or negatives is bad. Pairs the warehouse already holds are
recognised by id and not staged again, so a re-run costs reading and hashing only.
"""

from umedata.ingest.records import IngestSummary
from umedata.ingest.run import ingest_source

__all__ = ["IngestSummary", "ingest_source"]
