"""dbrx_emulator: a local Databricks workspace emulator for tests, benchmarks and local development.

See `DEVELOPING.md` in this package for the architecture and how to add route modules.
"""

__version__ = "0.1.0"
