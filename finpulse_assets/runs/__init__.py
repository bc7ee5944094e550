"""Running the graph from the command line: per-ticker runs, worker processes, their CPU share and progress."""
