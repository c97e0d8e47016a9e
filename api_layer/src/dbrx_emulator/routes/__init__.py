"""Route modules: one `router` (`ApiRouter`) per API family, plus the FastAPI control plane in `control.py`."""
