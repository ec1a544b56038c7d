"""Measuring: one value per (annotation, rule), vectorised over a whole page of annotations.

    values = measure(annotations, ["format", "repetition", ...], cfg, counter, pairs)
    # -> annotation_id, rule, value (Float64), detail (String)

`annotations` has annotation_id, reasoning, summary, format_status, text (the side's own text) and finish_reason
(NULL for imported annotations); `pairs` has one row per (annotation, pair it is the query of): annotation_id,
pair_id, target_text, qry_text and optionally qry_media (how many media the query carries; missing = none).

No Python loop runs per row: string rules are polars expressions, word-level rules (repetition, token_run) work on
the words of all reasoning texts at once as numpy arrays of 64-bit hashes, lengths go through TokenCounter (the
tokenizer's batch API on distinct pieces), and the leak check is a join.

Text comparisons (summary_copy, leak) are verbatim after a light normalisation: lower case, whitespace runs as one
space, punctuation stripped at both ends (so "A red circle." matches "...a red circle on the left").
"""

from __future__ import annotations

import numpy as np
import polars as pl

from umedata.checks.config import ChecksConfig
from umedata.checks.tokens import TokenCounter, Words

VALUES = {"annotation_id": pl.String, "rule": pl.String, "value": pl.Float64, "detail": pl.String}
_STRIP = " .,;:!?\"'()[]{}…-"
# Symbols, control and replacement characters: not letters, marks, digits, punctuation or whitespace.
GARBAGE = r"[^\p{L}\p{M}\p{N}\p{P}\s]"


def empty_values() -> pl.DataFrame:
    return pl.DataFrame(schema=VALUES)


def norm(e: pl.Expr) -> pl.Expr:
    return e.fill_null("").str.to_lowercase().str.replace_all(r"\s{2,}|[^\S ]", " ").str.strip_chars(_STRIP)


def words_in(e: pl.Expr) -> pl.Expr:
    """Words of a normalised text (single spaces between words)."""
    return pl.when(e.str.len_bytes() > 0).then(e.str.count_matches(" ") + 1).otherwise(0)


def refusal_pattern(patterns: list[str]) -> str:
    return "(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"


def script_pattern(scripts: list[str]) -> str:
    allowed = "".join(rf"\p{{{s}}}" for s in scripts)
    return rf"[\p{{L}}--[{allowed}]]"


def word_stats(words: Words, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(repeated n-gram share, longest run of one word) per row, over the space-split words of all rows at once.

    The words are 64-bit hashes in one flat array (a row's words contiguous, empty pieces dropped); an n-gram is a
    mix of n consecutive hashes within one row; the share is 1 - distinct / total n-grams of the row.
    """
    rows = words.rows
    rep = np.zeros(rows)
    run = np.zeros(rows, np.int64)
    keep = (words.w.str.len_bytes() > 0).to_numpy()
    i, h = words.i[keep], words.h[keep]
    if len(h) == 0:
        return rep, run
    # Runs: a new run starts where the word or the row changes.
    starts = np.flatnonzero(np.concatenate([[True], (h[1:] != h[:-1]) | (i[1:] != i[:-1])]))
    lengths = np.diff(np.append(starts, len(h)))
    row_of_run = i[starts]
    first_run = np.flatnonzero(np.concatenate([[True], row_of_run[1:] != row_of_run[:-1]]))
    run[row_of_run[first_run]] = np.maximum.reduceat(lengths, first_run)
    # n-grams: positions j whose n words all lie in one row. Distinct n-grams per row by one sort: the row goes in
    # the high bits of a 64-bit key and the n-gram's hash in the rest (rows of a page need ~18 bits, leaving 46:
    # two different n-grams of one row collide with probability ~1e-8 per row), so after sorting each row's keys
    # are contiguous and in row order, and a key that differs from its predecessor starts a distinct n-gram.
    if n >= 1 and len(h) >= n:
        m = len(h) - n + 1
        key = h[:m].copy()
        for k in range(1, n):
            key = key * np.uint64(0x9E3779B97F4A7C15) ^ h[k:k + m]
        valid = i[:m] == i[n - 1:]
        gi, key = i[:m][valid], key[valid]
        if len(key):
            row_bits = max(1, int(rows).bit_length())
            packed = gi.astype(np.uint64)  # in place from here: these arrays are the size of the whole page's text
            packed <<= np.uint64(64 - row_bits)
            key >>= np.uint64(row_bits)
            packed |= key
            packed.sort()
            new_gram = np.empty(len(packed), dtype=bool)
            new_gram[0] = True
            np.not_equal(packed[1:], packed[:-1], out=new_gram[1:])
            starts = np.flatnonzero(np.concatenate([[True], gi[1:] != gi[:-1]]))
            total = np.diff(np.append(starts, len(gi))).astype(np.float64)
            rep[gi[starts]] = 1.0 - np.add.reduceat(new_gram, starts, dtype=np.int64) / total
    return rep, run


def rare_prefilter(cfg: ChecksConfig) -> str | None:
    """One regex that every row with a refusal, a control tag, garbage or a foreign letter matches (and most clean
    rows do not), so those four rules are measured only on the rows it finds. None: no prefilter possible (the
    allowed scripts leave out Latin, so any ASCII letter may count)."""
    if "Latin" not in cfg.rules["wrong_script"].params["scripts"]:
        return None
    refusals = [p.replace(r"\b", "") for p in cfg.rules["refusal"].params["patterns"]]
    return ("(?i:" + "|".join(f"(?:{p})" for p in refusals) + ")|" + str(cfg.rules["control_tags"].params["pattern"])
            + r"|[^\x00-\x7f]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f$+<=>^`|~]")


RARE = ("refusal", "control_tags", "garbage", "wrong_script")  # rules whose value is 0 on almost every row


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


def measure(
    ann: pl.DataFrame,
    rules: list[str],
    cfg: ChecksConfig,
    counter: TokenCounter | None = None,
    pairs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Values of `rules` for every annotation of `ann`, as long rows (annotation_id, rule, value, detail).

    Cost notes: the reasoning is split into words once (Words) for its token count, repetition and token_run; the
    four rare rules (refusal, control_tags, garbage, wrong_script) are measured only on the rows one combined
    regex finds (rare_prefilter), every other row gets 0 for them."""
    if ann.height == 0 or not rules:
        return empty_values()
    want = set(rules)
    n_rows = ann.height
    ids = ann.get_column("annotation_id")
    none = pl.lit(None, pl.String)
    cols: dict[str, tuple[pl.Series, pl.Series | None]] = {}  # rule -> (value, detail), aligned with ann's rows
    exprs: dict[str, tuple[pl.Expr, pl.Expr]] = {}
    if "format" in want:
        ok = pl.col("format_status") == "ok"
        exprs["format"] = (ok.cast(pl.Float64), pl.when(ok).then(none).otherwise(pl.col("format_status")))
    if "truncated" in want:
        exprs["truncated"] = ((pl.col("finish_reason") == "length").fill_null(False).cast(pl.Float64), none)
    if "summary_copy" in want:
        s, t = norm(pl.col("summary")), norm(pl.col("text"))
        copied = (s.str.len_bytes() > 0) & t.str.contains(s, literal=True)
        exprs["summary_copy"] = (pl.when(copied).then(words_in(s)).otherwise(0).cast(pl.Float64), none)
    rare = _rare_exprs(want & set(RARE), cfg)
    prefilter = rare_prefilter(cfg) if rare else None
    if rare and prefilter is None:
        exprs.update(rare)
    if exprs:
        got = ann.select(*[e.alias(f"{n}\x1fv") for n, (e, _) in exprs.items()],
                         *[d.alias(f"{n}\x1fd") for n, (_, d) in exprs.items()])
        cols.update({n: (got.get_column(f"{n}\x1fv"), got.get_column(f"{n}\x1fd")) for n in exprs})
    if rare and prefilter is not None:
        full = pl.col("reasoning").fill_null("") + "\n" + pl.col("summary").fill_null("")
        where = np.flatnonzero(ann.select(full.str.contains(prefilter)).to_series().to_numpy())
        found = ann[where].select(*[e.alias(f"{n}\x1fv") for n, (e, _) in rare.items()],
                                  *[d.alias(f"{n}\x1fd") for n, (_, d) in rare.items()])
        for n in rare:
            value = np.zeros(n_rows)
            value[where] = found.get_column(f"{n}\x1fv").to_numpy()
            detail = pl.Series([None] * n_rows, dtype=pl.String).scatter(where, found.get_column(f"{n}\x1fd"))
            cols[n] = (pl.Series(value), detail)

    token_rules = {"empty_reasoning", "long_reasoning", "short_summary", "long_summary"} & want
    if token_rules and counter is None:
        raise ValueError(f"rules {sorted(token_rules)} need the student tokenizer")
    words = Words.of(ann.get_column("reasoning")) if want & {"repetition", "token_run", "empty_reasoning",
                                                            "long_reasoning"} else None
    if token_rules & {"empty_reasoning", "long_reasoning"}:
        rt = pl.Series(counter.count(ann.get_column("reasoning"), words).astype(np.float64))
        cols.update({n: (rt, None) for n in token_rules & {"empty_reasoning", "long_reasoning"}})
    if token_rules & {"short_summary", "long_summary"}:
        st = pl.Series(counter.count(ann.get_column("summary")).astype(np.float64))
        cols.update({n: (st, None) for n in token_rules & {"short_summary", "long_summary"}})
    if want & {"repetition", "token_run"}:
        n = int(cfg.rules["repetition"].params["n"])
        rep, run = word_stats(words, n if "repetition" in want else 0)
        if "repetition" in want:
            cols["repetition"] = (pl.Series(rep), None)
        if "token_run" in want:
            cols["token_run"] = (pl.Series(run.astype(np.float64)), None)
    if "leak" in want:
        if pairs is not None and not cfg.rules["leak"].params["media_queries"] and "qry_media" in pairs.columns:
            pairs = pairs.filter(pl.col("qry_media") == 0)
        found = ann.select("annotation_id").join(leaks(ann, pairs), on="annotation_id", how="left",
                                                 maintain_order="left")
        cols["leak"] = (found.get_column("leak_words").fill_null(0).cast(pl.Float64), found.get_column("leak_pair"))

    # An answer that did not parse has no reasoning or summary: its format verdict says all there is to say.
    moot = ann.select(pl.col("reasoning").is_null() & pl.col("summary").is_null()).to_series()
    any_moot = bool(moot.any())
    parts = []
    for name in (r for r in rules if r in cols):
        value, detail = cols[name]
        part = pl.DataFrame({"annotation_id": ids, "rule": pl.Series([name]).new_from_index(0, n_rows),
                             "value": value.cast(pl.Float64),
                             "detail": detail.cast(pl.String) if detail is not None else pl.Series(
                                 [None], dtype=pl.String).new_from_index(0, n_rows)})
        if any_moot and name != "format":
            part = part.with_columns(pl.when(moot).then(None).otherwise(pl.col("value")).alias("value"),
                                     pl.when(moot).then(None).otherwise(pl.col("detail")).alias("detail"))
        parts.append(part)
    return pl.concat(parts, rechunk=False) if parts else empty_values()


def leaks(ann: pl.DataFrame, pairs: pl.DataFrame | None) -> pl.DataFrame:
    """Per annotation: words of the longest paired target text its reasoning or summary contains verbatim (and its
    own text does not), with that pair's id. Checked per pair: a side is the query of every pair that names it."""
    schema = {"annotation_id": pl.String, "leak_words": pl.Int64, "leak_pair": pl.String}
    if pairs is None or pairs.height == 0:
        return pl.DataFrame(schema=schema)
    t = norm(pl.col("target_text"))
    joined = pairs.join(ann.select("annotation_id", "reasoning", "summary"), on="annotation_id", how="inner")
    found = (joined.with_columns(t.alias("t"))
             .filter(pl.col("t").str.len_bytes() > 0)
             .filter((norm(pl.col("reasoning")).str.contains(pl.col("t"), literal=True)
                      | norm(pl.col("summary")).str.contains(pl.col("t"), literal=True))
                     & ~norm(pl.col("qry_text")).str.contains(pl.col("t"), literal=True))
             .with_columns(words_in(pl.col("t")).alias("leak_words")))
    if found.height == 0:
        return pl.DataFrame(schema=schema)
    return (found.sort(["leak_words", "pair_id"], descending=[True, False])
            .group_by("annotation_id", maintain_order=True)
            .agg(pl.col("leak_words").first(), pl.col("pair_id").first().alias("leak_pair"))
            .cast(schema))
