"""Hydra discovers cellsweep's sweeper here (select it with ``hydra/sweeper=cellsweep``)."""
