"""The package version, in a module of its own so that code inside the package can read it
without importing the top-level package (which would make an import circle)."""

__version__ = "0.1.0"
