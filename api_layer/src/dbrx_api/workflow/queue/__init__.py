"""Work queue (Azure Storage or in-process), the consumer loop of the worker and the sweeper (WORKFLOW §6, §8)."""
