"""``python -m v6scan.datasette [DB ...]``: the path of the shipped metadata.json, or with database files
(or names) the metadata document for them, on standard output."""

from __future__ import annotations

import json
import sys

from v6scan.datasette import metadata, metadata_path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        sys.stdout.write(str(__doc__).strip() + "\n")
    elif not args:
        sys.stdout.write(f"{metadata_path()}\n")
    else:
        sys.stdout.write(json.dumps(metadata(args), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
