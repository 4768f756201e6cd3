"""headstart's version: one literal, read by setuptools (pyproject.toml) and by the package."""

__version__ = "0.1.0"
