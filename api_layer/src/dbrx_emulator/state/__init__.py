"""State areas of the emulator (one module per API family)."""
