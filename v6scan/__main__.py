"""Run the command line with ``python -m v6scan``."""

from v6scan.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
