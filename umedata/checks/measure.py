"""Measuring: one value per (annotation, rule), vectorised over a whole page of annotations.

    values = measure(annotations, ["format", "repetition", ...], cfg, counter, pairs)
    # -> annotation_id, rule, value (Float64), detail (String)

`annotations` has annotation_id, reasoning, summary, format_status, text (the side's own text) and finish_reason
(NULL for imported annotations); `pairs` has one row per (annotation, pair it is the query of): annotation_id,
pair_id, target_text, qry_text. No Python loop runs per row: string rules are polars expressions, word-level
rules (repetition, token_run) work on the words of all reasoning texts at once as numpy arrays of 64-bit hashes,
lengths go through TokenCounter (the tokenizer's batch API on distinct pieces), and the leak check is a join.

Text comparisons (summary_copy, leak) are verbatim after a light normalisation: lower case, whitespace runs as one
space, punctuation stripped at both ends (so "A red circle." matches "...a red circle on the left").
"""

from __future__ import annotations

import numpy as np
import polars as pl

from umedata.checks.config import ChecksConfig
from umedata.checks.tokens import TokenCounter

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


def word_stats(texts: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(repeated n-gram share, longest run of one word) per text, over the space-split words of all texts at once.

    The words become 64-bit hashes in one flat array (row i's words contiguous); an n-gram is a mix of n
    consecutive hashes within one row; the share is 1 - distinct / total n-grams of the row.
    """
    rows = len(texts)
    rep = np.zeros(rows)
    run = np.zeros(rows, np.int64)
    if rows == 0:
        return rep, run
    flat = (pl.DataFrame({"i": np.arange(rows, dtype=np.int64), "w": texts.fill_null("").str.split(" ")})
            .explode("w").filter(pl.col("w").str.len_bytes() > 0))
    if flat.height == 0:
        return rep, run
    i = flat.get_column("i").to_numpy()
    h = flat.get_column("w").hash(seed=11).to_numpy()
    # Runs: a new run starts where the word or the row changes.
    starts = np.flatnonzero(np.concatenate([[True], (h[1:] != h[:-1]) | (i[1:] != i[:-1])]))
    lengths = np.diff(np.append(starts, len(h)))
    row_of_run = i[starts]
    first_run = np.flatnonzero(np.concatenate([[True], row_of_run[1:] != row_of_run[:-1]]))
    run[row_of_run[first_run]] = np.maximum.reduceat(lengths, first_run)
    # n-grams: positions j whose n words all lie in one row.
    if n >= 1 and len(h) >= n:
        m = len(h) - n + 1
        key = h[:m].copy()
        for k in range(1, n):
            key = key * np.uint64(0x9E3779B97F4A7C15) ^ h[k:k + m]
        valid = i[:m] == i[n - 1:]
        grams = pl.DataFrame({"i": i[:m][valid], "k": key[valid]})
        if grams.height:
            per = grams.group_by("i").agg(pl.len().alias("total"), pl.col("k").n_unique().alias("distinct"))
            idx = per.get_column("i").to_numpy()
            total = per.get_column("total").to_numpy().astype(np.float64)
            rep[idx] = 1.0 - per.get_column("distinct").to_numpy() / total
    return rep, run


def measure(
    ann: pl.DataFrame,
    rules: list[str],
    cfg: ChecksConfig,
    counter: TokenCounter | None = None,
    pairs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Values of `rules` for every annotation of `ann`, as long rows (annotation_id, rule, value, detail)."""
    if ann.height == 0 or not rules:
        return empty_values()
    want = set(rules)
    params = {n: cfg.rules[n].params for n in want}
    reasoning, summary = pl.col("reasoning").fill_null(""), pl.col("summary").fill_null("")
    full = reasoning + "\n" + summary
    length = full.str.len_chars().cast(pl.Float64)
    exprs: dict[str, tuple[pl.Expr, pl.Expr]] = {}  # rule -> (value, detail)
    none = pl.lit(None, pl.String)

    if "format" in want:
        ok = pl.col("format_status") == "ok"
        exprs["format"] = (ok.cast(pl.Float64), pl.when(ok).then(none).otherwise(pl.col("format_status")))
    if "refusal" in want:
        pat = refusal_pattern(list(params["refusal"]["patterns"]))
        exprs["refusal"] = (full.str.count_matches(pat).cast(pl.Float64), full.str.extract(f"({pat})", 1))
    if "truncated" in want:
        exprs["truncated"] = ((pl.col("finish_reason") == "length").fill_null(False).cast(pl.Float64), none)
    if "control_tags" in want:
        pat = str(params["control_tags"]["pattern"])
        exprs["control_tags"] = (full.str.count_matches(pat).cast(pl.Float64), full.str.extract(f"({pat})", 1))
    if "garbage" in want:
        # Tags are the control_tags rule's business: their "<|" and "|>" are not counted twice.
        tags = params.get("control_tags", {}).get("pattern") or cfg.rules["control_tags"].params["pattern"]
        text = full.str.replace_all(str(tags), "")
        bad = text.str.count_matches(GARBAGE).cast(pl.Float64)
        exprs["garbage"] = (pl.when(length > 0).then(bad / length).otherwise(0.0),
                            text.str.extract(f"({GARBAGE}+)", 1).str.slice(0, 20))
    if "wrong_script" in want:
        pat = script_pattern(list(params["wrong_script"]["scripts"]))
        foreign = full.str.count_matches(pat).cast(pl.Float64)
        exprs["wrong_script"] = (pl.when(length > 0).then(foreign / length).otherwise(0.0),
                                 full.str.extract(f"({pat}+)", 1).str.slice(0, 20))
    if "summary_copy" in want:
        s, t = norm(pl.col("summary")), norm(pl.col("text"))
        copied = (s.str.len_bytes() > 0) & t.str.contains(s, literal=True)
        exprs["summary_copy"] = (pl.when(copied).then(words_in(s)).otherwise(0).cast(pl.Float64), none)

    frame = ann.select("annotation_id", *[pl.struct(value=v, detail=d).alias(n) for n, (v, d) in exprs.items()])

    extra: dict[str, tuple[np.ndarray, list | None]] = {}
    token_rules = {"empty_reasoning", "long_reasoning", "short_summary", "long_summary"} & want
    if token_rules:
        if counter is None:
            raise ValueError(f"rules {sorted(token_rules)} need the student tokenizer")
        rt = counter.count(ann.get_column("reasoning")) if token_rules & {"empty_reasoning", "long_reasoning"} else None
        st = counter.count(ann.get_column("summary")) if token_rules & {"short_summary", "long_summary"} else None
        for name in token_rules:
            extra[name] = ((rt if "reasoning" in name else st).astype(np.float64), None)
    if want & {"repetition", "token_run"}:
        n = int(params.get("repetition", {}).get("n", 3)) if "repetition" in want else 0
        rep, run = word_stats(ann.get_column("reasoning"), n)
        if "repetition" in want:
            extra["repetition"] = (rep, None)
        if "token_run" in want:
            extra["token_run"] = (run.astype(np.float64), None)
    if extra:
        frame = frame.with_columns(
            pl.struct(value=pl.Series(v), detail=pl.Series(d, dtype=pl.String) if d is not None else none).alias(k)
            for k, (v, d) in extra.items())
    if "leak" in want:
        frame = frame.join(leaks(ann, pairs), on="annotation_id", how="left").with_columns(
            pl.struct(value=pl.col("leak_words").fill_null(0).cast(pl.Float64), detail=pl.col("leak_pair")).alias("leak")
        ).drop("leak_words", "leak_pair")

    names = [r for r in rules if r in frame.columns]
    out = frame.unpivot(index="annotation_id", on=names, variable_name="rule").unnest("value")
    # An answer that did not parse has no reasoning or summary: its format verdict says all there is to say.
    blank = ann.filter(pl.col("reasoning").is_null() & pl.col("summary").is_null()).get_column("annotation_id")
    if len(blank):
        moot = pl.col("annotation_id").is_in(blank.implode()) & (pl.col("rule") != "format")
        out = out.with_columns(pl.when(moot).then(None).otherwise(pl.col("value")).alias("value"),
                               pl.when(moot).then(None).otherwise(pl.col("detail")).alias("detail"))
    return out.select(list(VALUES)).cast(VALUES)


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
