"""Pytest plugin and helpers for running the emulator in tests (filled in by the emulator work)."""
