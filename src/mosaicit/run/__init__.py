"""How a run is assembled and run: the spec, the steps, the executors and the summary (see docs/architecture.md)."""
