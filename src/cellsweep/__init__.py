"""cellsweep: hyperparameter studies for scientific machine learning."""

__version__ = "0.1.0"
