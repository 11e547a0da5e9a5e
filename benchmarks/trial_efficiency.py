"""What Lightning costs a trial: the product's fit against the same optimization as a bare loop.

Two shipped defaults: `experiment=chemotaxis/model1` (100 epochs of Adam with a cosine schedule,
the simulation cached by a warm-up run) and `experiment=density_pinn/bimodal` (`family=auto`:
18 L-BFGS fits, 10 epochs). Each is built by the product's own `prepare_fit` (same config, seed,
data, network and threads, `trainer.threads=auto`) and fitted twice, interleaved, REPEATS times:
once by the product's `fit_model` (Lightning's `Trainer.fit`, as a run without tracking does it),
once by a plain torch loop written here with the same optimizer, steps per epoch, scheduler and
per-epoch validation. Both fits of a repeat start from the same initial weights (same seed), and
the table shows their final validation metric, so the two did the same work.

Target: Lightning / bare ≤ 1.25 for each workload.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cellsweep.paths import config_dir, register_resolvers
from cellsweep.tasks.density_pinn.auto_module import CONVERGED
from cellsweep.tasks.density_pinn.selection import select_family
from cellsweep.train import Fit, fit_model, prepare_fit

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

REPEATS = 3
TARGET = 1.25
WORKLOADS = {  # name -> (experiment, the validation metric compared)
    "chemotaxis": ("chemotaxis/model1", "val/pred_err"),
    "density_pinn": ("density_pinn/bimodal", "val/nll_heldout"),
}


def config(experiment: str, tmp: Path) -> DictConfig:
    """The shipped experiment as `cellsweep-train experiment=...` composes it, untracked."""
    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"experiment={experiment}",
                f"paths.output_dir={tmp / 'out'}",
                f"paths.cache_dir={tmp / 'cache'}",
                "tracking.enabled=false",
                "trainer.enable_progress_bar=false",
            ],
        )


def bare_chemotaxis(fit: Fit, epochs: int) -> float:
    """Adam + cosine, ``steps_per_epoch`` batches, the module's validation each epoch."""
    mod, dm = fit.task.module, fit.task.datamodule
    opt = torch.optim.Adam(mod.parameters(), lr=mod.lr, weight_decay=mod.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=epochs, eta_min=mod.lr * mod.min_lr_ratio
    )
    val = float("nan")
    for _ in range(epochs):
        mod.train()
        for batch in dm.train_dataloader():
            opt.zero_grad()
            loss = mod._loss(batch)
            loss.backward()
            opt.step()
        mod.eval()
        with torch.no_grad():
            for batch in dm.val_dataloader():
                mod._loss(batch)
                val = float(mod.prediction_error(batch["win_a"], batch["win_b"]))
                mod.sensitivity_error()
                mod.sensitivity_error(interior=True)
        sched.step()
    return val


def bare_density_pinn(fit: Fit, epochs: int) -> float:
    """Every fit's L-BFGS step until it converges, then the held-out family selection."""
    mod, dm = fit.task.module, fit.task.datamodule
    fits = mod._fits()
    opts = [f.configure_optimizers() for f in fits]
    last: dict[int, float] = {}
    done: set[int] = set()
    val = float("nan")
    for _ in range(epochs):
        for _batch in dm.train_dataloader():
            for i, (f, opt) in enumerate(zip(fits, opts, strict=True)):
                if i in done:
                    continue

                def closure(f=f, opt=opt):
                    opt.zero_grad()
                    loss = f.objective()
                    loss.backward()
                    return loss

                opt.step(closure)
                with torch.no_grad():
                    loss = float(f.objective())
                if i in last and last[i] - loss < CONVERGED:
                    done.add(i)
                last[i] = loss
            with torch.no_grad():
                mod.chosen.nll(mod.chosen.fit_nll).mean()
        with torch.no_grad():
            sel = select_family(mod.heldout_per_cell(), mod.transitions_per_cell, mod.rule)
            mod.selection = sel
            val = float(sel.nll[sel.family])
    return val


BARE: dict[str, Callable[[Fit, int], float]] = {
    "chemotaxis": bare_chemotaxis,
    "density_pinn": bare_density_pinn,
}


def measure(name: str, tmp: Path) -> dict:
    experiment, metric = WORKLOADS[name]
    cfg = config(experiment, tmp)
    epochs = int(cfg.trainer.max_epochs)
    prepare_fit(cfg)  # warm-up: fills the simulation cache, first-call costs
    light, bare, light_val, bare_val = [], [], [], []
    for _ in range(REPEATS):
        fit = prepare_fit(cfg)
        metrics, _ = fit_model(fit, None)
        light.append(metrics["time/fit_s"])
        light_val.append(metrics[metric])
        fit = prepare_fit(cfg)  # the same seed: the same initial weights and data
        t = time.perf_counter()
        bare_val.append(BARE[name](fit, epochs))
        bare.append(time.perf_counter() - t)
    ratios = [a / b for a, b in zip(light, bare, strict=True)]
    return {
        "workload": name,
        "experiment": experiment,
        "epochs": epochs,
        "lightning_s": light,
        "bare_s": bare,
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "metric": metric,
        "lightning_final": statistics.median(light_val),
        "bare_final": statistics.median(bare_val),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cellsweep-trial-eff-") as tmp:
        res = [measure(name, Path(tmp) / name) for name in WORKLOADS]
    rows = [
        [
            r["experiment"],
            r["epochs"],
            f"{statistics.median(r['lightning_s']):.2f}",
            f"{statistics.median(r['bare_s']):.2f}",
            f"{r['ratio']:.2f}",
            f"{r['metric']} {r['lightning_final']:.4g} / {r['bare_final']:.4g}",
            f"≤ {TARGET}",
        ]
        for r in res
    ]
    table = markdown_table(
        [
            "experiment",
            "epochs",
            "Lightning fit s",
            "bare loop s",
            "ratio",
            "final (Lightning / bare)",
            "target",
        ],
        rows,
    )
    targets = [
        {
            "name": f"{r['workload']}: Lightning / bare torch",
            "value": round(r["ratio"], 3),
            "target": f"<= {TARGET}",
            "met": r["ratio"] <= TARGET,
        }
        for r in res
    ]
    per_round = "; ".join(
        f"{r['workload']} {', '.join(f'{x:.2f}' for x in r['ratios'])}" for r in res
    )
    summary = f"Medians of {REPEATS} interleaved pairs (ratios per pair: {per_round})."
    print(table, "\n", summary, sep="")
    write_result(
        "trial_efficiency",
        {
            "repeats": REPEATS,
            "results": res,
            "targets": targets,
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
