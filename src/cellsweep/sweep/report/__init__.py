"""What a finished study says: its summary, trial table and plots (``summary.py``, matplotlib
imported only when a plot is drawn), the child process that imports the plotting stack while the
trials run (``figure_process.py``), and the stock plugin's ``optimization_results.yaml``
(``results.py``).

Owns: reading a study, never writing it. Imports Optuna, matplotlib and ``sweep.study``.
"""
