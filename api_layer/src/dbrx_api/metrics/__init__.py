"""Run metrics of pipelines and their schedule jobs (docs/API.md §9)."""
