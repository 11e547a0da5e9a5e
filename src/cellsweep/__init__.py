"""cellsweep: hyperparameter studies for scientific machine learning."""

from typing import Any

from cellsweep.threads import passive_waiting

passive_waiting()  # before torch is imported by anything of ours: threads.py says why

__version__ = "0.1.0"
__all__ = ["OptunaPruning"]


def __getattr__(name: str) -> Any:
    """``from cellsweep import OptunaPruning``; ``import cellsweep`` alone imports no Lightning."""
    if name == "OptunaPruning":
        from cellsweep import extras

        if not extras.has("lightning"):  # an ImportError that names the extra to install
            raise ImportError(extras.message("cellsweep.OptunaPruning", "lightning"))
        from cellsweep.callbacks import OptunaPruning

        return OptunaPruning
    raise AttributeError(f"module 'cellsweep' has no attribute {name!r}")
