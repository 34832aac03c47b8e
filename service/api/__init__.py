"""The HTTP service for park operators (FastAPI): parks, API keys and day-ahead plans."""
