"""Say whether the PG* credentials of this container open the database, as one word the start
scripts read (start.sh, start.bat): ok, credentials (refused: wrong user or password) or
unreachable followed by the error."""

from __future__ import annotations

import sys

import psycopg2

REFUSED = ("password authentication failed", "does not exist")


def main() -> int:
    try:
        psycopg2.connect("", connect_timeout=10).close()
    except psycopg2.OperationalError as error:
        text = str(error).strip()
        if any(marker in text for marker in REFUSED):
            print("credentials")
        else:
            print("unreachable", text.splitlines()[-1] if text else repr(error))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
