"""Glue between Hydra's sweeper interface and the study loop: compose and run each trial's job."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hydra
import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus, run_job
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from cellsweep.cli_errors import WORKER_ENV, report_trial_error
from cellsweep.console import quiet_notices
from cellsweep.errors import ConfigError
from cellsweep.sweep.api import TrialContext
from cellsweep.sweep.compat import job_return_value
from cellsweep.sweep.engine import LEAD, WATCHER, Role, Sweep, run_study
from cellsweep.sweep.plugin import defaults
from cellsweep.sweep.plugin.compose import TrialComposer
from cellsweep.sweep.report.results import write_results
from cellsweep.sweep.settings import PLUMBING, STOCK_ONLY, SweepSettings
from cellsweep.sweep.space import stock
from cellsweep.sweep.space.grammar import SearchSpace, parse_space, suggest
from cellsweep.sweep.study import attrs
from cellsweep.sweep.study.identity import study_identity
from cellsweep.sweep.study.record import outcome_of
from cellsweep.sweep.study.storage import MEMORY, normalize_directions
from cellsweep.sweep.tracker import NULL_TRACKER, StudyTracker, TrialRuns
from cellsweep.sweep.workers.devices import VISIBLE, cuda_started, visible_gpus, worker_gpus
from cellsweep.sweep.workers.slurm import (
    launcher_kind,
    make_executor,
    stop_window,
    submit_workers,
)
from cellsweep.sweep.workers.watch import Worker

# the launch key finds the parent run (engine.py)
LAUNCH_ENV = "CELLSWEEP_LAUNCH"
STUDY_ENV = "CELLSWEEP_STUDY_NAME"  # spawned workers join their parent's study by name
THREADS_ENV = "CELLSWEEP_THREADS"


# The command that started this sweep, to start its workers: the same app, not cellsweep-train.
#
# A worker is one more process of the app that was launched, with the same overrides: a script
# (``python app.py``), a module (``python -m pkg.app``) or a console script (``cellsweep-train``,
# whose file is a Python script). When none of these can be told (the app was called in-process,
# as tests do), the module of the task function is run with ``-m``.
def app_command(task_function: Any, cwd: str | Path | None = None) -> list[str]:
    """``[python, <how the app was started>]``, without its arguments."""
    main = sys.modules.get("__main__")
    module = getattr(task_function, "__module__", None) or ""
    base = Path(cwd) if cwd else Path.cwd()
    if module == "__main__" and main is not None:
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:  # python -m pkg.app
            return [sys.executable, "-m", spec.name.removesuffix(".__main__")]
        return [sys.executable, str((base / sys.argv[0]).resolve())]  # python app.py
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and (base / script).is_file():  # a console script, or a wrapper
        return [sys.executable, str((base / script).resolve())]
    return [sys.executable, "-m", module]


def app_record(task_function: Any, config: DictConfig) -> dict[str, Any]:
    """What reruns a trial of this app, stored on each trial (``attrs.APP``): the command
    without arguments, the directory it was launched from, and its primary config folder and
    name (a plain app has no experiment files: `cellsweep adopt` prints its command instead)."""
    cwd = defaults.launch_dir(config)
    sources = OmegaConf.select(config, "hydra.runtime.config_sources", default=None) or []
    main = next((s for s in sources if s.get("provider") == "main"), None)
    conf = str(main.path) if main is not None and main.get("schema") == "file" else None
    return {
        "command": app_command(task_function, cwd),
        "cwd": str(cwd),
        "config_dir": conf,
        "config_name": OmegaConf.select(config, "hydra.job.config_name", default=None),
    }


def split_arguments(arguments: list[str]) -> tuple[dict[str, str], list[str], set[str]]:
    """Command-line sweep expressions join the search space; plain overrides stay fixed, and a
    plain override of a searched key pins it (it leaves the search space)."""
    parsed = OverridesParser.create().parse_overrides(arguments)
    space, fixed, pinned = {}, [], set()
    for ov in parsed:
        if ov.is_sweep_override():
            space[ov.get_key_element()] = ov.get_value_string()
        else:
            fixed.append(ov.input_line)
            pinned.add(ov.get_key_element().lstrip("+~"))
    return space, fixed, pinned


def fix_sweep_dir(config: DictConfig) -> str:
    """Resolve ``hydra.sweep.dir`` once for this launch and write the result back.

    The default holds ``${now:...}``: Hydra's ``run_job`` resolves it again for every job (a
    trial's config is composed anew), so each trial, and ``optimization_results.yaml``, would
    land in a folder of its own. Resolved here, every trial, worker (local or cluster) and the
    results of one launch share one folder; a resumed study is a new launch, with a new folder.
    """
    path = str(Path(str(config.hydra.sweep.dir)).absolute())
    set_sweep_dir(config, path)
    return path


def set_sweep_dir(config: DictConfig, path: str) -> None:
    """Write ``hydra.sweep.dir`` as a plain string (Hydra keeps its node read-only)."""
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweep.dir = path


def quiet_console(config: DictConfig) -> None:
    """A trial's job logging with its console handler at WARNING: the job's INFO lines (data
    loading, a cache hit) go to the trial's log file only, so the sweep's console holds one line
    per trial (and what went wrong)."""
    console = OmegaConf.select(config, "hydra.job_logging.handlers.console", default=None)
    if isinstance(console, DictConfig) and str(console.get("class", "")).endswith("StreamHandler"):
        with read_write(config.hydra), open_dict(config.hydra):
            console.level = "WARNING"


def app_validator(task_function: Any) -> Callable[[Any], None] | None:
    """The app's own ``check_config(cfg)``, if the module of its task function defines one."""
    module = sys.modules.get(getattr(task_function, "__module__", "") or "")
    check = getattr(module, "check_config", None)
    return check if callable(check) else None


def check_before_writing(
    validator_path: str | Callable[[Any], None] | None,
    space: Any,
    compose: Callable[[list[str]], Any],
    fixed: list[str],
    tries: int = 8,
) -> None:
    """Compose trial configs at a few points of the space (in memory) and check them.

    Bad input (an unknown key, a wrong type) fails every point and becomes one ConfigError
    before the study or the parent run exist. A point that fails only where the space is
    infeasible (too long a window, say) is left to its trial, so one good point is enough.
    Bad input is what Hydra and OmegaConf refuse and the ``ConfigError`` a validator raises;
    any other exception from a validator is a bug in it, and goes on with its traceback.
    """
    validator = validator_path if callable(validator_path) else None
    if validator_path and validator is None:
        try:
            validator = hydra.utils.get_method(str(validator_path))
        except Exception as exc:
            raise ConfigError(f"hydra.sweeper.validator={validator_path}: {exc}") from None
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line for a probe
    try:
        probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    finally:
        optuna.logging.set_verbosity(verbosity)
    first: BaseException | None = None
    for _ in range(tries):
        trial = probe.ask()
        try:
            cfg = compose([*fixed, *suggest(trial, space)])
            if validator is not None:
                validator(cfg)
            return
        except ConfigError as exc:
            first = first or exc
        except (HydraException, OmegaConfBaseException) as exc:  # unknown keys, bad overrides
            msg = str(exc).strip().splitlines()
            first = first or ConfigError(msg[0] if msg else type(exc).__name__)
        if not space:
            break
    if first is not None:
        raise first


def set_threads(n: int) -> None:
    """Torch's intra-op threads for this worker's trials; an app that has not imported torch
    (yet) gets ``OMP_NUM_THREADS``, which torch reads when it is imported."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"task": {"lr": ...}}`` -> ``{"task.lr": ...}``: command lines can only add nested keys
    (``+hydra.sweeper.params.task.lr=...``) while files write dotted ones; nested ones win."""
    flat, nested = {}, {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            nested.update(flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return {**flat, **nested}


def default_study_name(config, fingerprint: str) -> str:
    """``<sweep config or app job name>-<fingerprint>``: the same command finds its study again,
    another data file, task, fixed override or space gets a study of its own
    (study/identity.py), and two apps never share one name."""
    choice = config.hydra.runtime.choices.get("sweep")
    base = str(choice).replace("/", "-") if choice else str(config.hydra.job.name)
    return f"{base}-{fingerprint}"


def app_logs_trial_runs(task_function: Any) -> bool:
    """Whether the app opens each trial's MLflow run itself (its module says
    ``LOGS_TRIAL_RUNS = True``, as cellsweep-train's does); else the sweeper opens them."""
    module = sys.modules.get(getattr(task_function, "__module__", "") or "")
    return bool(getattr(module, "LOGS_TRIAL_RUNS", False))


def load_class(key: str, path: str) -> Any:
    """The class a sweeper key names, or one line of bad input (exit 2) if it cannot load."""
    try:
        return hydra.utils.get_class(str(path))
    except Exception as exc:
        raise ConfigError(f"hydra.sweeper.{key}={path}: cannot import: {exc}") from None


def read_settings(
    sweeper: Any, arguments: list[str], worker: bool
) -> tuple[SweepSettings, SearchSpace, list[str]]:
    """The sweeper's keys and the command line as (settings, space, fixed overrides): the
    stock plugin's keys mapped onto cellsweep's, an unknown key refused."""
    config = sweeper.config
    # the sampler arrives as config (_recursive_: False on the sweeper node): the engine
    # rebuilds it with a derived seed for each ask, so the study never replays its draws
    kw = {k: stock.plain(v) for k, v in sweeper.kwargs.items() if k not in PLUMBING}
    stock_keys = {k: kw.pop(k, None) for k in STOCK_ONLY}  # space/stock.py maps them
    cli_space, fixed, pinned = split_arguments(arguments)
    params = {k: v for k, v in flat_params(kw.get("params") or {}).items() if k not in pinned}
    unknown = sorted(set(kw) - {f.name for f in dataclasses.fields(SweepSettings)})
    if unknown:
        raise ConfigError(f"hydra.sweeper.{unknown[0]}: not a key of the cellsweep sweeper")
    seed = int(config.get("seed", 0))
    settings = SweepSettings(
        **{
            **kw,
            "params": {**params, **cli_space},
            "study_name": (os.environ.get(STUDY_ENV) if worker else None) or kw.get("study_name"),
            "seed": seed,
            "n_workers": stock.workers(kw.get("n_workers", 1), stock_keys["n_jobs"]),
            "sampler": stock.fill_seed(kw.get("sampler"), seed),
        }
    )
    space = parse_space(settings.params)
    stock.add_legacy_space(space, stock_keys["search_space"], params)
    stock.add_custom_space(space, stock_keys["custom_search_space"], config)
    if stock.is_grid(settings.sampler):
        settings.sampler, points = stock.grid_sampler(settings.sampler, space)
        settings.n_trials = min(settings.n_trials, points)
    n_directions = len(normalize_directions(settings.direction))
    if not settings.objective and not config.get("objective"):  # a plain app returns values
        settings.objective = stock.default_objectives(n_directions)
    return settings, space, fixed


def make_trackers(sweeper: Any) -> tuple[StudyTracker, TrialRuns | None]:
    """The study's tracker (workers too: they fail stale trials' runs) and, for an app that
    opens no MLflow run of its own, the trials' child runs; without MLflow, the null tracker."""
    tracking = defaults.tracking_config(sweeper.config, stock.plain(sweeper.kwargs.get("tracking")))
    if tracking is None:
        return NULL_TRACKER, None
    tracker_path, runs_path = sweeper.kwargs.get("tracker"), sweeper.kwargs.get("trial_runs")
    tracker = NULL_TRACKER
    if tracker_path:
        tracker = load_class("tracker", tracker_path)(tracking=tracking)
    trial_runs = None
    if runs_path and not app_logs_trial_runs(sweeper.task_function):
        trial_runs = load_class("trial_runs", runs_path)(tracking=tracking)
    return tracker, trial_runs


class HydraJobs:
    """Runs each trial as a Hydra job of the app, and starts the extra workers of the study."""

    def __init__(
        self,
        sweeper: Any,
        composer: TrialComposer,
        space: SearchSpace,
        settings: SweepSettings,
        trial_runs: TrialRuns | None,
        threads: int,
    ) -> None:
        self.sweeper, self.composer, self.space = sweeper, composer, space
        self.settings, self.trial_runs, self.threads = settings, trial_runs, threads
        self.worker = os.environ.get(WORKER_ENV) == "1"
        config = sweeper.config
        self.sweep_dir = str(config.hydra.sweep.dir)  # resolved once (fix_sweep_dir)
        self.app = app_record(sweeper.task_function, config)
        self.launcher = (
            OmegaConf.to_container(config.hydra.launcher, resolve=True) if not self.worker else {}
        )
        self.cluster = launcher_kind(self.launcher) if not self.worker else None
        self.executor = make_executor(self.launcher, self.cluster) if self.cluster else None

    def warm_up(self) -> None:
        """Before this process asks its first trial: the config tree composed once and the
        trials' MLflow client ready (a spawned worker would otherwise pay both inside its first
        trial, while the trial is already taken)."""
        self.composer.base()
        if self.trial_runs is not None:
            self.trial_runs.warm()

    def launch(self, overrides: list[str], ctx: TrialContext) -> tuple[Any, BaseException | None]:
        """The trial's job through Hydra's ``run_job``: its own folder, logging and config."""
        ctx.trial.set_user_attr(attrs.APP, self.app)  # what reruns it (cellsweep adopt)
        cfg = self.composer.compose(overrides)
        set_sweep_dir(cfg, self.sweep_dir)  # the launch's folder: <sweep dir>/<trial number>
        quiet_console(cfg)
        with open_dict(cfg):
            cfg.hydra.job.id = ctx.trial.number
            cfg.hydra.job.num = ctx.trial.number
        ret = run_job(
            hydra_context=self.sweeper.hydra_context,
            task_function=self.sweeper.task_function,
            config=cfg,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        if VISIBLE in os.environ:  # which GPU(s) this worker's trials saw
            ctx.trial.set_user_attr(attrs.CUDA_DEVICES, os.environ[VISIBLE])
        if ret.status == JobStatus.FAILED:
            error = job_return_value(ret)
            if not isinstance(error, optuna.TrialPruned):
                report_trial_error(ctx.trial.number, error)
            return None, error
        return job_return_value(ret), None

    def run_one(self, overrides: list[str], ctx: TrialContext) -> tuple[Any, BaseException | None]:
        """The job, inside the trial's MLflow run when the sweeper keeps it (a plain app)."""
        runs = self.trial_runs
        if runs is None:
            return self.launch(overrides, ctx)
        params = {**ctx.trial.params, **self.space.fixed}
        command = [*self.app["command"], *ctx.rerun, "hydra.mode=RUN"]  # as adopt prints it
        run_id = ctx.run_id = runs.open(
            ctx.parent_run_id,
            ctx.study_name,
            ctx.trial.number,
            params,
            ctx.trial.params,
            command,
            resumed_from=ctx.resume_run_id,
            resumed_at=ctx.resume_epoch,
        )
        ctx.trial.set_user_attr(attrs.RUN_ID, run_id)
        ctx.log_metrics = lambda metrics, step: runs.log_metrics(run_id, metrics, step)
        t0 = time.time()
        try:
            result, error = self.launch(overrides, ctx)
        except BaseException as exc:  # Ctrl-C, SystemExit: the run must not stay RUNNING
            runs.kill(run_id, time.time() - t0, f"interrupted: {type(exc).__name__}")
            raise
        out = outcome_of(result, error, ctx.objectives)
        runs.close(run_id, out.state.name, ctx.objectives, out.values, time.time() - t0, out.reason)
        return result, error

    def worker_argv(self) -> list[str]:
        """This same command as a worker: the app that was started, with its overrides."""
        config = self.sweeper.config
        return [
            *app_command(self.sweeper.task_function, defaults.launch_dir(config)),
            *sys.argv[1:],
            "hydra.sweeper.n_workers=1",
            "hydra.sweeper.n_jobs=null",
            f"hydra.sweep.dir={self.sweep_dir}",
        ]

    def spawn(self, launch: str | None) -> list[Worker]:
        """Start ``n_workers - 1`` more processes of this same command on the same study, or
        ``n_workers`` cluster jobs when a submitit launcher is selected (this process watches)."""
        n = self.settings.n_workers if self.cluster else self.settings.n_workers - 1
        if self.worker or n <= 0:
            return []
        per_job = self.launcher.get("cpus_per_task") or (
            self.threads if self.cluster != "slurm" else 0
        )
        env = {
            WORKER_ENV: "1",
            LAUNCH_ENV: launch or "",
            STUDY_ENV: self.settings.study_name,
            # idle OpenMP threads sleep: workers share the cores (cellsweep/threads.py)
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        }
        if per_job:
            env |= {THREADS_ENV: str(per_job), "OMP_NUM_THREADS": str(per_job)}
        if self.cluster:
            stop_s = stop_window(self.launcher)
            return submit_workers(self.executor, self.worker_argv(), env, n, stop_s)
        gpus = worker_gpus(self.settings.n_workers, visible_gpus())
        if gpus[0] is not None and not cuda_started():  # this process is worker 0
            os.environ[VISIBLE] = gpus[0]
        on = f"; one GPU each, workers 0-{n} on {VISIBLE}={','.join(map(str, gpus))}"
        print(f"starting {n} more worker process(es){on if gpus[0] else ''}", flush=True)
        cwd = defaults.launch_dir(self.sweeper.config)
        return [
            subprocess.Popen(
                self.worker_argv(),
                env={**os.environ, **env, **({VISIBLE: g} if g else {})},
                cwd=cwd,
            )
            for g in gpus[1:]
        ]


def run_hydra_sweep(sweeper: Any, arguments: list[str]) -> Any:
    """The plugin's ``sweep``: everything checked before anything is written, then the study."""
    config = sweeper.config
    worker = os.environ.get(WORKER_ENV) == "1"
    quiet_notices(worker)  # the libraries' notices once in this process, none in a worker
    sweep_dir = fix_sweep_dir(config)  # before anything composes a trial or a worker's command
    settings, space, fixed = read_settings(sweeper, arguments, worker)
    loader = sweeper.hydra_context.config_loader
    if not worker:  # a spawned worker runs the command its parent already checked
        check_before_writing(
            sweeper.kwargs.get("validator") or app_validator(sweeper.task_function),
            space,
            lambda overrides: loader.load_sweep_config(config, list(overrides)),
            fixed,
        )
    threads = int(os.environ.get(THREADS_ENV, 0)) if worker else settings.threads()
    if threads:
        set_threads(threads)
    folder = defaults.sweeps_dir(config, sweeper.kwargs.get("sweeps_dir"))
    settings.storage = defaults.storage_spec(config, settings.storage)
    if settings.storage == MEMORY and settings.n_workers > 1:
        raise ConfigError(
            "hydra.sweeper.storage=memory keeps the study in one process: n_workers 1"
        )
    composer = TrialComposer(loader, config, fixed)
    roots = [Path(str(config.hydra.runtime.cwd))]
    identity = study_identity(composer.base(), settings.params, settings.identity_ignore, roots)
    if not settings.study_name:
        settings.study_name = default_study_name(config, identity.fingerprint)
    tracker, trial_runs = make_trackers(sweeper)
    jobs = HydraJobs(sweeper, composer, space, settings, trial_runs, threads)
    sweep = Sweep(
        settings=settings,
        space=space,
        run_job=jobs.run_one,
        default_storage=defaults.journal_path(folder),
        base_overrides=fixed,
        default_objective=config.get("objective"),
        identity=identity,
        tracker=tracker,
        spawn=jobs.spawn,
        warm_up=jobs.warm_up,
        sweep_dir=sweep_dir,
    )
    lead = WATCHER if jobs.cluster else LEAD  # cluster jobs run the trials; this one watches
    role = Role.worker(os.environ.get(LAUNCH_ENV)) if worker else lead
    study = run_study(sweep, role)
    if not worker:
        written = write_results(study, sweep_dir)
        if written is not None:
            print(f"results: {written}", flush=True)
    return study
