"""Measuring: one value per (annotation, rule), vectorised over a whole page of annotations.

    values = measure(annotations, ["format", "repetition", ...], cfg, counter, pairs)
    # -> annotation_id, rule, value (Float64), detail (String)

`annotations` has annotation_id, reasoning, summary, format_status, text (the side's own text) and finish_reason
(NULL for imported annotations); `pairs` has one row per (annotation, pair it is the query of): annotation_id,
pair_id, target_text, qry_text and optionally qry_media (how many media the query carries; missing = none).

No Python loop runs per row: string rules are polars expressions, word-level rules (repetition, token_run) are
compiled passes (kernels.py) over the 64-bit hashes of the words of all reasoning texts, lengths go through
TokenCounter (the tokenizer's batch API on distinct pieces, a compiled table lookup), and the leak check is a join.
A page is measured in blocks on parallel threads (polars, numpy and the kernels release the GIL), one per core.

Text comparisons (summary_copy, leak) are verbatim after a light normalisation (text.norm): lower case,
whitespace runs as one space, punctuation stripped at both ends (so "A red circle." matches "...a red circle on
the left").

The plain per-row definition of every value is umedata/checks/per_row.py; tests/test_checks_fast_path.py holds
this module to it on crafted and random texts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from umedata.checks import kernels
from umedata.checks.config import ChecksConfig
from umedata.checks.text import copied_words
from umedata.checks.tokens import TokenCounter, Words

VALUES = {"annotation_id": pl.String, "rule": pl.String, "value": pl.Float64, "detail": pl.String}
# Symbols, control and replacement characters: not letters, marks, digits, punctuation or whitespace.
GARBAGE = r"[^\p{L}\p{M}\p{N}\p{P}\s]"


def empty_values() -> pl.DataFrame:
    return pl.DataFrame(schema=VALUES)


def refusal_pattern(patterns: list[str]) -> str:
    return "(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"


def script_pattern(scripts: list[str]) -> str:
    allowed = "".join(rf"\p{{{s}}}" for s in scripts)
    return rf"[\p{{L}}--[{allowed}]]"


_EMPTY = kernels.EMPTY  # Words' hash of the empty piece (two spaces in a row)


def word_stats(words: Words, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(repeated n-gram share, longest run of one word) per row, over the space-split words of all rows at once.

    The words are a row's non-empty pieces (64-bit hashes); an n-gram is a mix of n consecutive hashes within one
    row; the share is 1 - distinct / total n-grams of the row, the distinct 64-bit n-gram keys counted per row (two
    different n-grams of a row of 300 words collide with probability ~1e-15). One compiled pass over the rows
    (kernels.word_stats), without the GIL."""
    return kernels.word_stats(words.h, words.start, n, _EMPTY)


RARE = ("refusal", "control_tags", "garbage", "wrong_script")  # rules whose value is 0 on almost every row


def rare_rows(full: pl.Series, cfg: ChecksConfig) -> np.ndarray | None:
    """Rows of `full` (reasoning + newline + summary) where refusal, control_tags, garbage or wrong_script may be
    non-zero: a refusal phrase, a control tag, a non-ASCII character or an ASCII symbol/control character. Every
    other row has 0 for all four, so the rules are measured on these rows alone. None: no such shortcut (the
    allowed scripts leave out Latin, so any ASCII letter may count). The characters are found by one compiled pass
    over the bytes (kernels.byte_flags), the phrases and tags by the regex engine."""
    if "Latin" not in cfg.rules["wrong_script"].params["scripts"]:
        return None
    refusals = [p.replace(r"\b", "") for p in cfg.rules["refusal"].params["patterns"]]  # \b: Unicode, slow
    tests = [pl.col("f").str.contains("(?i:" + "|".join(f"(?:{p})" for p in refusals) + ")"),
             pl.col("f").str.contains(str(cfg.rules["control_tags"].params["pattern"]))]
    src = kernels.Texts.of(full)
    chars = (kernels.byte_flags(src.addr, src.size) & (kernels.NON_ASCII | kernels.ASCII_GARBAGE)) != 0
    return np.flatnonzero(full.to_frame("f").select(pl.any_horizontal(tests)).to_series().to_numpy() | chars)


def _rare_exprs(want: set[str], cfg: ChecksConfig) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    full = pl.col("reasoning").fill_null("") + "\n" + pl.col("summary").fill_null("")
    length = full.str.len_chars().cast(pl.Float64)
    out: dict[str, tuple[pl.Expr, pl.Expr]] = {}
    if "refusal" in want:
        pat = refusal_pattern(list(cfg.rules["refusal"].params["patterns"]))
        out["refusal"] = (full.str.count_matches(pat).cast(pl.Float64), full.str.extract(f"({pat})", 1))
    tags = str(cfg.rules["control_tags"].params["pattern"])
    if "control_tags" in want:
        out["control_tags"] = (full.str.count_matches(tags).cast(pl.Float64), full.str.extract(f"({tags})", 1))
    if "garbage" in want:
        # Tags are the control_tags rule's business: their "<|" and "|>" are not counted twice.
        text = full.str.replace_all(tags, "")
        bad = text.str.count_matches(GARBAGE).cast(pl.Float64)
        out["garbage"] = (pl.when(length > 0).then(bad / length).otherwise(0.0),
                          text.str.extract(f"({GARBAGE}+)", 1).str.slice(0, 20))
    if "wrong_script" in want:
        pat = script_pattern(list(cfg.rules["wrong_script"].params["scripts"]))
        foreign = full.str.count_matches(pat).cast(pl.Float64)
        out["wrong_script"] = (pl.when(length > 0).then(foreign / length).otherwise(0.0),
                               full.str.extract(f"({pat}+)", 1).str.slice(0, 20))
    return out


Columns = dict[str, tuple[np.ndarray, "pl.Series | None"]]  # rule -> (value per row, detail per row or None)
MIN_BLOCK = 20_000  # rows: below this a page is measured in one piece (threads cost more than they save)


def auto_blocks(rows: int) -> int:
    """How many blocks a page of `rows` is measured in at once: one per polars thread (their ops and numpy's
    release the GIL, so blocks run on every core), each at least MIN_BLOCK rows."""
    return max(1, min(pl.thread_pool_size(), rows // MIN_BLOCK))


def measure(
    ann: pl.DataFrame,
    rules: list[str],
    cfg: ChecksConfig,
    counter: TokenCounter | None = None,
    pairs: pl.DataFrame | None = None,
    *,
    blocks: int | None = None,
) -> pl.DataFrame:
    """Values of `rules` for every annotation of `ann`, as long rows (annotation_id, rule, value, detail).

    The page is cut into `blocks` blocks of consecutive rows (None: auto_blocks) measured on parallel threads;
    every value depends on its own row (and the row's pairs) alone, so the cut changes nothing but the speed."""
    if ann.height == 0 or not rules:
        return empty_values()
    want = set(rules)
    token_rules = {"empty_reasoning", "long_reasoning", "short_summary", "long_summary"} & want
    if token_rules and counter is None:
        raise ValueError(f"rules {sorted(token_rules)} need the student tokenizer")
    k = max(1, min(blocks or auto_blocks(ann.height), ann.height))
    if k == 1:
        cols = _measure_block(ann, want, cfg, counter, pairs)
    else:
        cuts = np.linspace(0, ann.height, k + 1).astype(np.int64)
        with ThreadPoolExecutor(k) as pool:
            parts = list(pool.map(lambda j: _measure_block(ann.slice(cuts[j], cuts[j + 1] - cuts[j]), want, cfg,
                                                           counter, pairs), range(k)))
        cols = {name: (np.concatenate([p[name][0] for p in parts]),
                       None if parts[0][name][1] is None else pl.concat([p[name][1] for p in parts]))
                for name in parts[0]}
    # An answer that did not parse has no reasoning or summary: its format verdict says all there is to say.
    moot = ann.select(pl.col("reasoning").is_null() & pl.col("summary").is_null()).to_series().to_numpy()
    return _long(ann.get_column("annotation_id"), [r for r in rules if r in cols], cols, moot)


def _long(ids: pl.Series, names: list[str], cols: Columns, moot: np.ndarray) -> pl.DataFrame:
    """Per-rule columns -> long rows (annotation_id, rule, value, detail), rule by rule in `names` order."""
    n = len(ids)
    if not names:
        return empty_values()
    value = np.concatenate([cols[name][0].astype(np.float64, copy=False) for name in names])
    nulls = pl.Series([None], dtype=pl.String)
    detail = pl.concat([cols[name][1].cast(pl.String) if cols[name][1] is not None else nulls.new_from_index(0, n)
                        for name in names], rechunk=False)
    frame = pl.DataFrame({
        "annotation_id": pl.concat([ids] * len(names), rechunk=False),
        "rule": pl.concat([pl.Series([name], dtype=pl.String).new_from_index(0, n) for name in names], rechunk=False),
        "value": value,
        "detail": detail,
    })
    if moot.any():
        gone = np.tile(moot, len(names))
        for j, name in enumerate(names):
            if name == "format":
                gone[j * n:(j + 1) * n] = False
        frame = frame.with_columns(pl.when(pl.Series(gone)).then(None).otherwise(pl.col("value")).alias("value"),
                                   pl.when(pl.Series(gone)).then(None).otherwise(pl.col("detail")).alias("detail"))
    return frame


def _measure_block(ann: pl.DataFrame, want: set[str], cfg: ChecksConfig, counter: TokenCounter | None,
                   pairs: pl.DataFrame | None) -> Columns:
    """Every wanted rule's column over one block of rows.

    Cost notes: reasoning and summary are split into words once (one Words over both) for their token counts, the
    repetition and token_run; the four rare rules are measured only on the rows rare_rows finds; text
    comparisons (text.copied_words) build normal forms only for texts that are not plain ASCII."""
    n_rows = ann.height
    cols: Columns = {}
    if "format" in want:
        status = ann.get_column("format_status")
        ok = (status == "ok").fill_null(False)
        cols["format"] = (ok.to_numpy().astype(np.float64), status.zip_with(~ok, pl.Series([None], dtype=pl.String)
                                                                           .new_from_index(0, n_rows)))
    if "truncated" in want:
        cols["truncated"] = ((ann.get_column("finish_reason") == "length").fill_null(False).to_numpy()
                             .astype(np.float64), None)
    if "summary_copy" in want:
        cols["summary_copy"] = (copied_words(ann.get_column("text"), ann.get_column("summary")).astype(np.float64),
                                None)
    rare = _rare_exprs(want & set(RARE), cfg)
    if rare:
        full = ann.select(pl.col("reasoning").fill_null("") + "\n" + pl.col("summary").fill_null("")).to_series()
        where = rare_rows(full, cfg)
        sub = ann if where is None else ann[where]
        found = sub.select(*[e.alias(f"{n}\x1fv") for n, (e, _) in rare.items()],
                           *[d.alias(f"{n}\x1fd") for n, (_, d) in rare.items()])
        for name in rare:
            if where is None:
                cols[name] = (found.get_column(f"{name}\x1fv").to_numpy(), found.get_column(f"{name}\x1fd"))
                continue
            value = np.zeros(n_rows)
            value[where] = found.get_column(f"{name}\x1fv").to_numpy()
            detail = pl.Series([None], dtype=pl.String).new_from_index(0, n_rows).scatter(
                where, found.get_column(f"{name}\x1fd"))
            cols[name] = (value, detail)

    reasoning_words = want & {"repetition", "token_run", "empty_reasoning", "long_reasoning"}
    summary_tokens = want & {"short_summary", "long_summary"}
    texts = ([ann.get_column("reasoning")] if reasoning_words else []) + (
        [ann.get_column("summary")] if summary_tokens else [])
    words = Words.of(pl.concat(texts)) if texts else None
    if want & {"empty_reasoning", "long_reasoning"}:
        rt = counter.count(ann.get_column("reasoning"), words.head(n_rows)).astype(np.float64)
        cols.update({n: (rt, None) for n in want & {"empty_reasoning", "long_reasoning"}})
    if summary_tokens:
        own = words if not reasoning_words else words.tail(n_rows)
        st = counter.count(ann.get_column("summary"), own).astype(np.float64)
        cols.update({n: (st, None) for n in summary_tokens})
    if want & {"repetition", "token_run"}:
        n = int(cfg.rules["repetition"].params["n"])
        rep, run = word_stats(words.head(n_rows), n if "repetition" in want else 0)
        if "repetition" in want:
            cols["repetition"] = (rep, None)
        if "token_run" in want:
            cols["token_run"] = (run.astype(np.float64), None)
    if "leak" in want:
        if pairs is not None and not cfg.rules["leak"].params["media_queries"] and "qry_media" in pairs.columns:
            pairs = pairs.filter(pl.col("qry_media") == 0)
        found = ann.select("annotation_id").join(leaks(ann, pairs), on="annotation_id", how="left",
                                                 maintain_order="left")
        cols["leak"] = (found.get_column("leak_words").fill_null(0).to_numpy().astype(np.float64),
                        found.get_column("leak_pair"))
    return cols


def leaks(ann: pl.DataFrame, pairs: pl.DataFrame | None) -> pl.DataFrame:
    """Per annotation: words of the longest paired target text its reasoning or summary contains verbatim (and its
    own text does not), with that pair's id. Checked per pair: a side is the query of every pair that names it.
    Containment is text.copied_words (normal forms compared; built only for texts that are not plain ASCII)."""
    schema = {"annotation_id": pl.String, "leak_words": pl.Int64, "leak_pair": pl.String}
    empty = pl.DataFrame(schema=schema)
    if pairs is None or pairs.height == 0:
        return empty
    joined = pairs.select("annotation_id", "pair_id", "qry_text", "target_text").join(
        ann.select("annotation_id", "reasoning", "summary"), on="annotation_id", how="inner")
    if joined.height == 0:
        return empty
    target = joined.get_column("target_text")
    words = np.maximum(copied_words(joined.get_column("reasoning"), target),
                       copied_words(joined.get_column("summary"), target))
    hit = np.flatnonzero(words > 0)
    if len(hit):
        quoted = copied_words(joined.get_column("qry_text").gather(hit), target.gather(hit)) > 0
        hit, words = hit[~quoted], words[hit[~quoted]]
    if len(hit) == 0:
        return empty
    return (joined.select("annotation_id", "pair_id").gather(hit).with_columns(pl.Series("leak_words", words))
            .sort(["leak_words", "pair_id"], descending=[True, False])
            .group_by("annotation_id", maintain_order=True)
            .agg(pl.col("leak_words").first(), pl.col("pair_id").first().alias("leak_pair"))
            .cast(schema))
