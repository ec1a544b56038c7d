"""`python -m umedata.teacher ...`: the annotate command on its own (the same function `umedata annotate` runs)."""

import typer

from umedata.teacher.cli import annotate

if __name__ == "__main__":
    typer.run(annotate)
