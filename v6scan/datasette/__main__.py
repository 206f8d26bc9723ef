"""``python -m v6scan.datasette [DB ...]``: the path of the shipped metadata.json, or with database files
(or names) the metadata document for them, on standard output."""

from __future__ import annotations

import sys

from v6scan.datasette import output


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        sys.stdout.write(str(__doc__).strip() + "\n")
    else:
        sys.stdout.write(output(args) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
