"""Figures of a fitted chemotaxis estimator."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def sensitivity_figure(
    c: np.ndarray,
    s_hat: np.ndarray,
    s_true: np.ndarray | None,
    title: str,
    seen: tuple[float, float] | None = None,
) -> Figure:
    """Learned S_θ(c) against the truth (analytic, or parabolic-limit for Models II and III).

    ``seen`` is the span of c over the interior faces: outside it, between a no-flux wall and
    the first face, the flux is zero whatever S is, so the data cannot identify S there and
    the curve is the network's extrapolation. Those bands are shaded.
    """
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    if seen is not None:
        lo, hi = float(np.min(c)), float(np.max(c))
        label = "not identifiable (beyond the outermost faces)"
        for a, b in ((lo, seen[0]), (seen[1], hi)):
            if b > a:
                ax.axvspan(a, b, color="0.85", zorder=0, label=label)
                label = None
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
