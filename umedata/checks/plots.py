"""PNG figures of a checks version: histograms of what was measured and pass rates per dataset and rule.

matplotlib with the Agg backend (no display needed; imported only when a report is written). Figures are small
(about 20-40 KB each) so the flow can attach them to its run as data URLs (flows/validate.py says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DPI = 80


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def histogram(values: np.ndarray, path: Path, *, title: str, xlabel: str, threshold: float | None = None,
              threshold_label: str = "threshold", bins: int = 50) -> Path:
    """A histogram of the values with the rule's threshold drawn in when it falls near them (else named in the
    legend: a 2,048-token cap drawn beside 100-token traces would squash every bar into one). The count axis is
    logarithmic when bar heights span more than two orders of magnitude, so a rare tail stays visible."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=DPI)
    v = np.asarray(values, dtype=float)
    lo, hi = (float(np.min(v)), float(np.max(v))) if len(v) else (0.0, 1.0)
    near = threshold is not None and lo - (hi - lo) <= threshold <= hi + (hi - lo) * 0.5
    if near:
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi <= lo:
        hi = lo + 1.0
    if len(v):
        counts, _, _ = ax.hist(v, bins=bins, range=(lo, hi), color="#4C72B0")
        nonzero = counts[counts > 0]
        if len(nonzero) and nonzero.max() / nonzero.min() > 100:
            ax.set_yscale("log")
    if threshold is not None:
        label = f"{threshold_label} {threshold:g}" + ("" if near else " (off the chart)")
        if near:
            ax.axvline(threshold, color="#C44E52", linestyle="--", label=label)
        else:
            ax.plot([], [], color="#C44E52", linestyle="--", label=label)
        ax.legend(loc="upper right")
    ax.set_title(f"{title} (n = {len(v):,})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("annotations")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pass_rates(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """A dataset x rule grid of pass rates, each cell labelled, the verdict ('(all rules)') first."""
    plt = _pyplot()
    datasets = sorted({r["dataset_name"] for r in rows})
    rules = sorted({r["rule"] for r in rows}, key=lambda r: (r != "(all rules)", r))
    grid = np.full((len(datasets), len(rules)), np.nan)
    for r in rows:
        grid[datasets.index(r["dataset_name"]), rules.index(r["rule"])] = r["pass_rate"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * len(rules), 1.2 + 0.45 * max(1, len(datasets))), dpi=DPI)
    im = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(rules)), rules, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(datasets)), datasets, fontsize=8)
    for i in range(len(datasets)):
        for j in range(len(rules)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
