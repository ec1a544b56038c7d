"""Build fingerprints: deciding that a build would give a version already registered, before assembling a row.

A version id hashes the rows, so it is known only once they are assembled; a rebuild used to pay for that. A
fingerprint hashes what the rows are made from, cheaply:
- the selection: for an SFT set the selected pair ids and every validated annotation (schemas/queries/
  version_fp_selection.sql) plus the spec's mix and split settings (pairs, sides and media are content-addressed,
  so their ids stand for their content); for a version built from a given list of pairs (an RL set), that list
  and the created_at of its annotations (version_fp_kept.sql);
- what else decides the rows or may refuse them: FORMAT_VERSION, the id scheme, the registered eval sets
  (decontamination), the quality gate's state under the chosen checks version (version_fp_context.sql), whether
  contaminated pairs are kept;
- the code that turns those into rows: the text of every SQL file involved and ASSEMBLY_VERSION (bumped when the
  Python side of selection or assembly changes), and the DuckDB version (its hash function sums the parts).

Parts are order-independent sums of DuckDB's 64-bit `hash` (two of them, and the row count), folded with sha256.
A build records its fingerprint (dataset_version_builds.fingerprint); a later build with the same one reuses the
registered version if its directory is in the target store, and records itself. A change anywhere in the inputs
(even one the rows do not depend on, such as a new annotation of an unselected side) only means the rows are
assembled again: the same rows still hash to the same id and nothing is rewritten.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from umedata import sql
from umedata.format import FORMAT_VERSION
from umedata.ids import digest
from umedata.versions.content import ID_SCHEME

SCHEME = "umedata-fingerprint/1"
ASSEMBLY_VERSION = "1"  # bump when select.py / assemble.py change which rows a selection gives
ROW_FILES = ("sft_rows_kept", "sft_rows_sides", "views/version_sides.sql", "sft_rows_annotations", "decontam_pairs",
             "checks_gate")
SELECTION_FILES = ("sft_candidates", "sft_mix", "sft_split_keys", "sft_split_keys_minhash", "sft_split_ids",
                   "sft_assign_split", "views/validated_annotations.sql")
# The SftSpec fields that decide rows once the selected pair ids are known (the filters and the query are in them).
ARRANGEMENT = ("preference", "split_mode", "eval_fraction", "text_key", "seed", "caps", "weights", "total")


def _code(files: tuple[str, ...]) -> str:
    return digest("sql", *(sql.text(f) for f in files))


def of_selection(con: duckdb.DuckDBPyConnection, spec_json: dict[str, Any]) -> str:
    """The SFT selection part (relation selected_pairs staged by select.stage_selection)."""
    parts = sql.query(con, "version_fp_selection").to_pylist()
    arrangement = {k: spec_json[k] for k in ARRANGEMENT}
    return digest("selection", json.dumps(parts, default=str), json.dumps(arrangement, sort_keys=True),
                  _code(SELECTION_FILES))


def of_kept(con: duckdb.DuckDBPyConnection) -> str:
    """The part of a version built from a given list of pairs (relation kept)."""
    return digest("kept", json.dumps(sql.query(con, "version_fp_kept").to_pylist(), default=str))


def complete(con: duckdb.DuckDBPyConnection, part: str, *, kind: str, keep_contaminated: bool) -> str:
    """The fingerprint of a build: its selection part with everything else that decides the rows."""
    context = sql.query(con, "version_fp_context").to_pylist()
    return digest(SCHEME, kind, part, FORMAT_VERSION, ID_SCHEME, ASSEMBLY_VERSION, duckdb.__version__,
                  _code(ROW_FILES), json.dumps(context, default=str), str(bool(keep_contaminated)))


def registered(con: duckdb.DuckDBPyConnection, fingerprint: str) -> str | None:
    """The version the latest build with this fingerprint produced (registered, not dropped), if any."""
    rows = sql.query(con, "registry_by_fingerprint", {"fingerprint": fingerprint}).to_pylist()
    return rows[0]["version_id"] if rows else None
