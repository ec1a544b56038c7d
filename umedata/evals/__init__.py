"""Evaluation as the benchmark does it, on the data side.

    ingest.py    eval sets (umedata/sources/eval_*.py layouts) -> eval_sets, eval_queries, eval_candidates,
                 eval_qrels (+ their sides and media in the core tables)
    export.py    registered eval sets -> an eval-set directory (parquet + manifest.json) the trainer reads
    results.py   training.evaluate's report JSON -> eval_runs / eval_scores
    checkpoint.py  what a checkpoint folder says about itself (stage, dataset version, content id)

The evaluation itself runs in training/evaluate.py, as its own process: umedata never imports training.
"""
