"""The v6scan command line: a thin click layer over the library."""

from __future__ import annotations

import click

from v6scan import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="v6scan")
def cli() -> None:
    """v6scan: measure how ready websites are for IPv6.

    \b
    Examples:
      v6scan --version
    """


def main() -> None:
    """Console-script entry point."""
    cli()
