"""Jobs: run a cell model and write a run folder (anneal, ...)."""
