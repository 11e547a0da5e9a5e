"""The processes a study runs in besides the one a user started: which GPU each local worker
sees (``devices.py``), watching local workers and the signals that stop a sweep (``watch.py``),
Slurm job arrays through Hydra's submitit launcher (``slurm.py``) and their squeue watch, which
needs no accounting database (``squeue.py``).

Owns: starting, watching and stopping workers. Imports ``sweep.study`` (to read who ran what) and
``sweep.compat``; never the engine or the plugin, which hand it commands to run.
"""
