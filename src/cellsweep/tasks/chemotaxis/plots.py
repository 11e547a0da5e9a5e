"""Figures of a fitted chemotaxis estimator."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def sensitivity_figure(
    c: np.ndarray, s_hat: np.ndarray, s_true: np.ndarray | None, title: str
) -> Figure:
    """Learned S_θ(c) against the truth (analytic, or parabolic-limit for Models II and III)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    if s_true is not None:
        ax.plot(c, s_true, "k--", lw=2, label="S(c), analytic (parabolic limit)")
    ax.plot(c, s_hat, "C0", lw=2, label="S_θ(c), learned")
    ax.set_xlabel("signal level c")
    ax.set_ylabel("chemotactic sensitivity S")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
