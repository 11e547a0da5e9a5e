"""Search spaces: the stock ``hydra-optuna-sweeper`` grammar (``interval``, ``choice``, ``range``,
``tag(log, ...)``) parsed into Optuna distributions (``grammar.py``), and the stock plugin's other
forms mapped onto them: the deprecated ``search_space``, ``custom_search_space``, grids and
``n_jobs`` (``stock.py``).

Owns: what a study searches and how a trial's values become Hydra overrides. Imports Optuna,
Hydra's override parser (through ``sweep.compat``) and ``cellsweep.errors``; nothing else of
the sweep.
"""
