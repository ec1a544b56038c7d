"""Reading data files in blocks: parquet, JSON Lines, JSON arrays and HF `save_to_disk` folders.

A block is either columnar (an Arrow table, the fast path) or a list of per-row records (Python objects or a
`RowError` for a row that could not be read). JSON Lines are read columnar by Arrow when a block is clean and
fall back to per-line parsing when it is not (a bad line, mixed types, invalid UTF-8), so one bad line costs
its block some speed, never its neighbours their place in the warehouse.

Row numbers are 0-based positions in the file: the record index for parquet, JSON arrays and Arrow shards, the
line index for JSON Lines (blank lines are skipped but counted).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc is not loaded by `import pyarrow`)
import pyarrow.json as pj
import pyarrow.parquet as pq

from umedata.errors import FileError, RowError

try:  # several times faster than json for the per-line path; prefect already depends on it
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    _loads = json.loads

_JSON_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"  # some editors start UTF-8 files with it; it is not part of the first row


@dataclass
class Block:
    file: Path  # the file the rows come from (an Arrow shard inside an HF folder)
    rows: pa.Array  # int64 row numbers, one per row of the block
    table: pa.Table | None = None  # columnar block
    records: list[Any] | None = None  # per-row block: objects or RowError, aligned with rows
    fixed_schema: bool = False  # the file declares its columns (parquet, Arrow): a missing column is the file's fault
    split: str | None = None  # split named by the container (an HF DatasetDict folder)


def read_blocks(path: Path, batch_rows: int, columnar: bool = True, split: str | None = None) -> Iterator[Block]:
    """Blocks of at most `batch_rows` rows from one data file or HF dataset folder."""
    if path.is_dir():
        yield from _hf_dir(path, batch_rows, columnar, split)
        return
    if not path.exists():
        raise FileError("missing_file", f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet(path, batch_rows, columnar)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl(path, batch_rows, columnar)
    elif suffix == ".json":
        if _first_char(path) == "[":
            yield from _json_array(path, batch_rows)
        else:  # JSON Lines saved as .json is common
            yield from _jsonl(path, batch_rows, columnar)
    elif suffix == ".arrow":
        yield from _arrow_file(path, batch_rows, columnar)
    else:
        raise FileError(
            "unreadable_file",
            f"{path}: unknown format (expected .parquet, .jsonl, .json, .arrow or an HF dataset folder)",
        )


def _rows(start: int, n: int) -> pa.Array:
    return pa.array(range(start, start + n), pa.int64())


def _as_records(table: pa.Table) -> list[Any]:
    return table.to_pylist()


# -- parquet / Arrow -------------------------------------------------------------------------------------------
def _parquet(path: Path, batch_rows: int, columnar: bool) -> Iterator[Block]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileError("unreadable_file", f"{path}: {exc}") from None
    start = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            t = pa.Table.from_batches([batch])
            yield _table_block(path, t, start, columnar)
            start += t.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise FileError("unreadable_file", f"{path} after row {start}: {exc}") from None


def _table_block(path: Path, t: pa.Table, start: int, columnar: bool, split: str | None = None) -> Block:
    rows = _rows(start, t.num_rows)
    if columnar:
        return Block(path, rows, table=t, fixed_schema=True, split=split)
    return Block(path, rows, records=_as_records(t), fixed_schema=True, split=split)


def _arrow_file(path: Path, batch_rows: int, columnar: bool, split: str | None = None) -> Iterator[Block]:
    """An Arrow IPC file as `datasets.save_to_disk` writes it (stream format), or the random-access format."""
    try:
        try:
            table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise FileError("unreadable_file", f"{path}: {exc}") from None
    for start in range(0, table.num_rows, batch_rows):
        yield _table_block(path, table.slice(start, batch_rows), start, columnar, split)


def _hf_dir(path: Path, batch_rows: int, columnar: bool, split: str | None) -> Iterator[Block]:
    """A `Dataset.save_to_disk` folder (state.json + .arrow shards) or a `DatasetDict` one (one folder per split).

    For a DatasetDict, the dataset's configured split picks that split's folder when it exists; otherwise
    every split is read and each row keeps the split it came from.
    """
    dict_file = path / "dataset_dict.json"
    if dict_file.exists():
        try:
            splits = json.loads(dict_file.read_text(encoding="utf-8"))["splits"]
        except (ValueError, KeyError) as exc:
            raise FileError("unreadable_file", f"{dict_file}: {exc}") from None
        chosen = [split] if split in splits else list(splits)
        for name in chosen:
            for block in _hf_dir(path / name, batch_rows, columnar, None):
                block.split = name
                yield block
        return
    state = path / "state.json"
    if not state.exists():
        raise FileError(
            "unreadable_file", f"{path}: a folder but not an HF dataset (no state.json / dataset_dict.json)"
        )
    try:
        files = [f["filename"] for f in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise FileError("unreadable_file", f"{state}: {exc}") from None
    for name in files:
        yield from _arrow_file(path / name, batch_rows, columnar, split)


# -- JSON Lines ------------------------------------------------------------------------------------------------
def _jsonl(path: Path, batch_rows: int, columnar: bool) -> Iterator[Block]:
    start = 0
    with open(path, "rb") as f:
        while True:
            lines = list(islice(f, batch_rows))
            if not lines:
                return
            if start == 0 and lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
            yield from _jsonl_blocks(path, lines, start, columnar)
            start += len(lines)


def _jsonl_blocks(path: Path, lines: list[bytes], start: int, columnar: bool) -> Iterator[Block]:
    """A clean block as one Arrow table. A block with bad lines: every line is parsed on its own (orjson, in C);
    lines that are not a JSON object, and lines whose values have another type than most lines give the same key
    (a number where the others have text), become per-line records, quarantined with their line numbers; the rest
    is still read by Arrow as one table."""
    kept = [i for i, line in enumerate(lines) if line.strip()]
    if columnar and kept:
        table = _jsonl_arrow([lines[i] for i in kept], len(kept))
        if table is not None:
            yield Block(path, pa.array([start + i for i in kept], pa.int64()), table=table)
            return
        odd = _odd_lines(lines, kept)
        good = [i for i in kept if i not in odd]
        table = _jsonl_arrow([lines[i] for i in good], len(good)) if good and odd else None
        if table is not None:
            yield Block(path, pa.array([start + i for i in good], pa.int64()), table=table)
            kept = sorted(odd)
    if kept:
        yield Block(path, pa.array([start + i for i in kept], pa.int64()), records=[_parse_line(lines[i]) for i in kept])


def _odd_lines(lines: list[bytes], kept: list[int]) -> set[int]:
    """Lines that keep a block from being read as one table: not a JSON object, or a value whose type differs from
    the type most lines give that key (nulls fit any type). Lines are compared by their shape (keys and value
    types), of which a file has a handful, so the vote costs one tuple per line."""
    odd: set[int] = set()
    shapes: dict[int, tuple] = {}
    for i in kept:
        try:
            obj = _loads(lines[i])
        except ValueError:  # bad JSON, or bytes that are not UTF-8
            obj = None
        if isinstance(obj, dict):
            shapes[i] = (tuple(obj), tuple(map(type, obj.values())))
        else:
            odd.add(i)
    counts = Counter(shapes.values())
    votes: dict[str, Counter[type]] = {}
    for (keys, types), n in counts.items():
        for k, t in zip(keys, types):
            if t is not type(None):
                votes.setdefault(k, Counter())[_kind(t)] += n
    majority = {k: c.most_common(1)[0][0] for k, c in votes.items()}
    fits = {shape: all(t is type(None) or _kind(t) is majority[k] for k, t in zip(*shape)) for shape in counts}
    odd.update(i for i, shape in shapes.items() if not fits[shape])
    return odd


def _kind(t: type) -> type:
    return float if t is int else t  # Arrow reads 1 and 1.5 in one column as doubles


def _jsonl_arrow(lines: list[bytes], expected: int) -> pa.Table | None:
    """Arrow's JSON reader over a clean block, or None when the block needs per-line handling."""
    blob = b"".join(lines)
    if not blob.endswith(b"\n"):
        blob += b"\n"
    read_options = pj.ReadOptions(block_size=max(1 << 22, len(blob) // 8))
    try:
        table = pj.read_json(io.BytesIO(blob), read_options=read_options)
        # The reader turns date-like strings into timestamps: a caption is text, so read those as strings.
        as_text = pa.schema([f.with_type(_no_temporal(f.type)) for f in table.schema])
        if as_text != table.schema:
            parse = pj.ParseOptions(explicit_schema=as_text)
            table = pj.read_json(io.BytesIO(blob), read_options=read_options, parse_options=parse)
        table.validate(full=True)  # the reader does not check UTF-8; validation does
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != expected:
        return None
    return table


def _no_temporal(t: pa.DataType) -> pa.DataType:
    if pa.types.is_temporal(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_no_temporal(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_no_temporal(t.field(i).type)) for i in range(t.num_fields)])
    return t


def _parse_line(line: bytes) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError("non_utf8", f"bytes at {exc.start} do not decode as UTF-8")
    try:
        return _loads(text)
    except ValueError as exc:
        return RowError("bad_json", str(exc)[:300])


# -- JSON arrays -----------------------------------------------------------------------------------------------
def _first_char(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    return head.removeprefix(_BOM).lstrip()[:1].decode("latin-1")


def _json_array(path: Path, batch_rows: int) -> Iterator[Block]:
    """A top-level JSON array, decoded element by element so a multi-GB file never sits in memory whole.

    Invalid UTF-8 is let through as lone surrogates (surrogateescape) so the row that holds it can be
    quarantined alone. A syntax error leaves the rest of the array unreadable: that row is reported and
    the file ends there.
    """
    records: list[Any] = []
    first = 0
    for _row, obj in _iter_json_array(path):
        records.append(obj)
        if len(records) >= batch_rows:
            yield Block(path, _rows(first, len(records)), records=records)
            first += len(records)
            records = []
    if records:
        yield Block(path, _rows(first, len(records)), records=records)


def _iter_json_array(path: Path) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as f:
        buf, pos, eof = "", 0, False

        def fill() -> bool:
            nonlocal buf, pos, eof
            more = f.read(_JSON_CHUNK * (1 + len(buf) // _JSON_CHUNK))
            if not more:
                eof = True
                return False
            buf = buf[pos:] + more
            pos = 0
            return True

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not fill():
                    return ""

        if skip_ws() != "[":
            raise FileError("bad_json", f"{path}: not a JSON array")
        pos += 1
        row = 0
        while True:
            c = skip_ws()
            if c == "]":
                return
            if row > 0:
                if c != ",":
                    yield row, RowError("bad_json", f"expected ',' or ']' between elements, found {c!r}")
                    return
                pos += 1
                skip_ws()
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    incomplete = exc.pos >= len(buf) - 1 or exc.msg.startswith("Unterminated string")
                    if incomplete and not eof and fill():
                        continue
                    yield row, RowError("bad_json", f"{exc.msg} (element {row})")
                    return
            yield row, obj
            row += 1
            pos = end
