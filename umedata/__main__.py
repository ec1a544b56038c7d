"""`python -m umedata …` is the `umedata` command."""

from umedata.cli import main

main()
