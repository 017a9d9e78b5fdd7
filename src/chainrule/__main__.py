"""``python -m chainrule ...`` runs the command line (see :mod:`chainrule.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
