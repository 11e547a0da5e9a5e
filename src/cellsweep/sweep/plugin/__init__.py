"""The Hydra-facing side of the sweeper: where a study and its MLflow runs go when the app says
nothing (``defaults.py``), each trial's config composed without recomposing the tree
(``compose.py``), and the run itself (``run.py``): the sweeper's keys and the command line read
into a ``Sweep``, checked before anything is written, trials run as Hydra jobs, and workers
relaunched as the same app.

Owns: everything that knows Hydra's sweeper contract. Imports every other part of the sweep;
nothing of the sweep imports it. The Hydra plugin class itself is in
``hydra_plugins/cellsweep_sweeper``.
"""
