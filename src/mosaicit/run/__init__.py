"""How a run is put together and run: spec, steps, executors, summary (see docs/architecture.md)."""
