"""Everything Optuna: studies, search spaces, pruning, workers. Knows configs, never a task."""
