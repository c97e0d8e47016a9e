"""Run metrics of pipelines and their schedule jobs (API.md §9)."""
