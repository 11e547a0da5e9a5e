"""The Optuna study and what is kept on it: storage and its locks, samplers and pruners
(``storage.py``), the study's identity (``identity.py``), a trial's outcome and how it is told
(``record.py``), the heartbeat and stale-trial retries (``heartbeat.py``), and the names of the
attributes stored on trials and studies (``attrs.py``).

Owns: everything another process of the study reads back. Imports Optuna, ``sweep.compat`` and
``sweep.tracker`` (to fail a dead worker's run); never the engine, the workers or the plugin.
"""
