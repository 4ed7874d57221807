"""`python -m sentiflow` runs the CLI."""

from sentiflow.cli import main

# Guarded: spawned worker and analyzer processes import this module again as __mp_main__.
if __name__ == "__main__":
    main()
