"""The few words the sweep layer and the tracking layer share, each defined once.

Neither layer imports the other (DESIGN.md §3), yet both must agree on how a trial ended and how
a run ends: the sweep tells its tracker, the tracker writes MLflow. So the words live here, in a
module that imports nothing. MLflow's tag names stay in ``cellsweep.tracking.tags``; Optuna's
attribute names in ``cellsweep.sweep.study.attrs``.
"""

#: how a trial ended: Optuna's ``TrialState`` names (tests/test_tracking_tags.py checks them)
COMPLETE, PRUNED, FAIL = "COMPLETE", "PRUNED", "FAIL"
TRIAL_STATES = (COMPLETE, PRUNED, FAIL)
#: how a run ends: MLflow's run statuses, also how a sweep ended (``StudyTracker.finish``)
FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"
#: a trial's wall time in seconds: an Optuna user attribute and an MLflow metric of that name
DURATION = "duration_s"
#: a fail reason (or a workload's warning) is a line to read, not a traceback
REASON_CHARS = 500
