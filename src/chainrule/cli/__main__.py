"""``python -m chainrule.cli``: the ``chainrule`` command, as ``python -m chainrule``."""

from .app import main

if __name__ == "__main__":
    raise SystemExit(main())
