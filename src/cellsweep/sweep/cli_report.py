"""`cellsweep report <study>`: the study's plots and trial table on disk, without MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from cellsweep.sweep import attrs
from cellsweep.sweep.report import study_figures, study_summary, trials_table


def write_report(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write summary.json, trials.csv and the PNG plots; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    objectives = study.user_attrs.get(attrs.OBJECTIVES) or ["value"]
    written = []
    summary = out_dir / "summary.json"
    summary.write_text(json.dumps(study_summary(study, objectives), indent=2, default=str) + "\n")
    written.append(summary)
    table = out_dir / "trials.csv"
    table.write_text(trials_table(study))
    written.append(table)
    for name, fig in study_figures(study, objectives).items():
        fig.savefig(out_dir / name)
        written.append(out_dir / name)
    return written
