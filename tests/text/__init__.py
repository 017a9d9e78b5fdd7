"""Tests of chainrule.text; a package, so its conftest does not take the name of the suite's
(tests/conftest.py, which other test modules import helpers from)."""
