"""S next to a no-flux wall is not identifiable: the interior error and the shaded S plot."""

from __future__ import annotations

import math

import torch
from matplotlib.patches import Polygon, Rectangle
from torch import nn

from cellsweep.tasks.chemotaxis.config import ChemotaxisCfg
from cellsweep.tasks.chemotaxis.module import ChemotaxisEstimator, EvalGrid
from cellsweep.tasks.chemotaxis.operators import face_positions
from cellsweep.tasks.chemotaxis.plots import sensitivity_figure


class WrongNearWalls(nn.Module):
    """S(c) = 1 + sin(πc) on the interior faces' span, off by 5 beyond it (c = x on [0, 1])."""

    def __init__(self, lo: float, hi: float) -> None:
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = (z + 1.0) / 2.0
        outside = ((c < self.lo - 1e-9) | (c > self.hi + 1e-9)).double()
        return 1.0 + torch.sin(math.pi * c) + 5.0 * outside


def test_interior_error_ignores_what_the_walls_hide() -> None:
    faces = face_positions(1.0, 50)  # c(x) = x: the losses see S on [0.02, 0.98]
    lo, hi = float(faces.min()), float(faces.max())
    eval_c = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
    cfg = ChemotaxisCfg(bins=50, window_steps=100)  # c(x) = x on [0, 1], τ = 100·1e-4
    cfg.estimator.D, cfg.loss.form = 1.0, "trapezoid"
    grid = EvalGrid(eval_c, (0.0, 1.0), (lo, hi), lambda c: 1.0 + torch.sin(math.pi * c))
    module = ChemotaxisEstimator(WrongNearWalls(lo, hi), cfg, grid)
    assert torch.equal(module.eval_interior, (eval_c >= lo - 1e-12) & (eval_c <= hi + 1e-12))
    assert float(module.sensitivity_error(interior=True)) < 1e-12
    assert float(module.sensitivity_error()) > 0.3  # the whole range counts the walls' bands


def test_sensitivity_plot_shades_both_wall_bands() -> None:
    c = [i / 100 for i in range(101)]
    fig = sensitivity_figure(c, [1.0] * 101, [1.0] * 101, "t", seen=(0.02, 0.98))
    (ax,) = fig.axes
    spans = [p for p in ax.patches if isinstance(p, (Polygon, Rectangle))]
    extents = sorted((round(p.get_extents().x0, 3), round(p.get_extents().x1, 3)) for p in spans)
    assert len(spans) == 2 and extents[0] < extents[1]
    assert "not identifiable" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
