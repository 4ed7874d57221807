"""`python -m sentiflow` runs the CLI."""

from sentiflow.cli import main

main()
