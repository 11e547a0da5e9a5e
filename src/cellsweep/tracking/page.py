"""A study's page in the MLflow UI: its parent run's Markdown description, and the saved view of
its runs table (the trials sorted by the objective, with the searched params beside it).

The description is where a user looks first (issue 24): the best trial and a link to its run,
the top trials, the counts with the reasons trials were pruned or failed, the command that adopts
the best, and the plots. Built from the sweep's plain summary (report/summary.py); knows no
Optuna.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from cellsweep.redact import redact_text
from cellsweep.tracking import tags as T
from cellsweep.tracking.run import UI_QUERY, run_link

NOTE_CHARS = 8000  # MLflow's limit on a tag's value: the pruned and failed lists come last
REASON_SHOWN = 160


def _value(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


PICTURED = ("optimization_history.png", "parallel_coordinates.png")


def _artifact(name: str, run_id: str) -> str:
    """A relative URL the UI's server answers with the run's artifact (images in the note)."""
    return f"get-artifact?path={quote(name)}&run_uuid={run_id}"


def _run(experiment_id: str, run_id: str | None, text: str) -> str:
    return f"[{text}]({run_link(experiment_id, run_id)})" if run_id else text


def description(
    summary: Mapping[str, Any],
    experiment_id: str,
    run_id: str,
    figures: Iterable[str] = (),
    final: bool = False,
) -> str:
    """The parent run's description (``mlflow.note.content``), in Markdown."""
    name = summary.get("study_name")
    objectives = list(summary.get("objectives") or ["value"])
    states = summary.get("states") or {}
    lines = [f"## Study `{name}`", ""]
    if "best_value" in summary:
        best = summary["best_trial"]
        link = _run(experiment_id, summary.get("best_run_id"), f"trial #{best}")
        lines += [
            f"**Best: {link}**, {objectives[0]} = **{_value(summary['best_value'])}**",
            "",
            "| param | value |",
            "|---|---|",
            *(f"| {_cell(k)} | {_cell(_value(v))} |" for k, v in summary["best_params"].items()),
            "",
        ]
    elif summary.get("pareto_trials"):
        front = ", ".join(f"#{n}" for n in summary["pareto_trials"])
        lines += [f"**Pareto front**: trials {front}", ""]
    else:
        lines += ["No trial has completed yet.", ""]
    done = sum(int(states.get(s, 0)) for s in (T.COMPLETE, T.PRUNED, T.FAIL))
    running = int(states.get("RUNNING", 0))
    status = "finished" if final else f"{running} running"
    lines += [
        f"**Trials**: {states.get(T.COMPLETE, 0)} complete, {states.get(T.PRUNED, 0)} pruned, "
        f"{states.get(T.FAIL, 0)} failed ({done} done, {status})",
        "",
    ]
    top = summary.get("top") or []
    if top:
        keys = list(dict.fromkeys(k for row in top for k in row["params"]))
        lines += [
            f"### Top {len(top)}",
            "",
            "| trial | " + " | ".join(objectives) + " | " + " | ".join(map(_short, keys)) + " |",
            "|---" * (1 + len(objectives) + len(keys)) + "|",
        ]
        for row in top:
            cells = [_run(experiment_id, row.get("run_id"), f"#{row['number']}")]
            cells += [_value(v) for v in row["values"]]
            cells += [_cell(_value(row["params"].get(k, ""))) for k in keys]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if summary.get("adopt"):
        lines += [
            "### Adopt the best",
            "",
            f"```\n{shlex.join(summary['adopt'])}\n```",
            "",
        ]
    shown = sorted(f for f in figures if f.endswith(".png"))
    if shown:  # the two that summarise a study as pictures, the rest as links (Artifacts tab)
        lines += ["### Plots", ""]
        lines += [f"![{f}]({_artifact(f, run_id)})" for f in shown if f in PICTURED]
        lines += ["", " · ".join(f"[{f}]({_artifact(f, run_id)})" for f in shown), ""]
    for key, title in (("pruned", "Pruned"), ("failed", "Failed")):
        rows = summary.get(key) or []
        if rows:
            lines += [f"### {title} ({len(rows)})", ""]
            for row in rows[:20]:
                link = _run(experiment_id, row.get("run_id"), f"#{row['number']}")
                reason = str(row.get("reason") or "no reason recorded")[:REASON_SHOWN]
                lines.append(f"- {link}: {_cell(reason)}")
            if len(rows) > 20:
                lines.append(f"- … {len(rows) - 20} more (`cellsweep report {name}`)")
            lines.append("")
    text = redact_text("\n".join(lines))
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"


def view_key(study_name: str) -> str:
    """The key of a study's saved view among its experiment's tags (any study name fits)."""
    return "cellsweep-" + hashlib.sha256(study_name.encode()).hexdigest()[:16]


def view_state(
    parent_run_id: str, objectives: list[str], directions: list[str], searched: Iterable[str]
) -> dict[str, Any]:
    """The runs table as a study is read: its trials only (children of its parent run), sorted
    by the first objective, best first, with the objectives, searched params and trial state
    as columns. Sorting by a metric also lists the trials flat instead of nested."""
    columns = [f"metrics.`{o}`" for o in objectives]
    columns += [f"params.`{k}`" for k in searched]
    columns += [f"tags.`{T.TRIAL_STATE}`", "attributes.`Duration`"]
    return {
        "searchFilter": f"tags.`{T.PARENT_RUN}` = '{parent_run_id}'",
        "orderByKey": f"metrics.`{objectives[0]}`",
        "orderByAsc": directions[0] != "maximize",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "runsHiddenMode": "SHOW_ALL",
    }


def view_tag(study_name: str, state: Mapping[str, Any]) -> tuple[str, str]:
    """The experiment tag that holds a study's saved view: MLflow 3's envelope (a name shown
    in the UI's views menu, times, and the state as JSON text)."""
    now = int(time.time() * 1000)
    envelope = {
        "name": f"study {study_name}: trials by {state['orderByKey'][9:-1]}",
        "createdAt": now,
        "updatedAt": now,
        "state": json.dumps(state),
    }
    return f"{T.SHARED_VIEW_PREFIX}{view_key(study_name)}", json.dumps(envelope)


def view_link(experiment_id: str, study_name: str) -> str:
    """The UI path of a study's trials table (after the server's address)."""
    query = UI_QUERY.lstrip("?")
    return f"#/experiments/{experiment_id}/runs?viewStateShareKey={view_key(study_name)}&{query}"


def store_links(uri: str) -> list[tuple[str, str]]:
    """What `cellsweep ui` offers to open in a store: each experiment's runs table
    (model-training view) and each study's trials table, as (label, UI path)."""
    from cellsweep.tracking.run import TrackingSettings, client_for

    client = client_for(TrackingSettings(True, uri, None, ""))
    found: list[tuple[str, str]] = []
    for exp in client.search_experiments():
        if exp.name == "Default" and not client.search_runs([exp.experiment_id], max_results=1):
            continue
        found.append((exp.name, f"#/experiments/{exp.experiment_id}/runs{UI_QUERY}"))
        for key, value in sorted(exp.tags.items()):
            if not key.startswith(T.SHARED_VIEW_PREFIX + "cellsweep-"):
                continue
            try:
                label = str(json.loads(value)["name"])
            except (ValueError, KeyError, TypeError):
                continue
            share = key[len(T.SHARED_VIEW_PREFIX) :]
            query = UI_QUERY.lstrip("?")
            path = f"#/experiments/{exp.experiment_id}/runs?viewStateShareKey={share}&{query}"
            found.append((f"  {label}", path))
    return found
