"""Work queue (Azure Storage or in-process), the consumer loop of the worker and the sweeper (docs/WORKFLOW.md §6, §8)."""
