"""The `tessera` console script: Tessera's management commands, with dashed names.

`tessera create-batch ...` runs the `create_batch` management command; every Django command
(migrate, createsuperuser, ...) is there too.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera.settings")
    args = list(sys.argv if argv is None else argv)
    # The command name is the first argument, or the second after `help`.
    position = 2 if args[1:2] == ["help"] else 1
    if len(args) > position and not args[position].startswith("-"):
        args[position] = args[position].replace("-", "_")
    from django.core.management import execute_from_command_line

    execute_from_command_line(args)


if __name__ == "__main__":
    main()
