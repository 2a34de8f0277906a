"""`python -m smfa.cli`: the `smfa` command."""

from smfa.cli import main

main()
