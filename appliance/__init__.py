"""Vomeet appliance: supervisor, API, data and bot runtimes."""

__version__ = "0.1.0"
