"""The exact simulator against the four facts of SCIENCE-density-pinn.md, by Monte Carlo, and the
trace CSV loader's one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from cellsweep.errors import DataError
from cellsweep.tasks.density_pinn.delays import DelayComponent, DelayLaw
from cellsweep.tasks.density_pinn.likelihood import MeanCurve, PoissonTransitions
from cellsweep.tasks.density_pinn.simulate import (
    SimCfg,
    mean_curve,
    simulate,
    simulate_counts,
    write,
)
from cellsweep.tasks.density_pinn.traces import read_traces

LAM_B, LAM_D = 20.0, 0.8
TIMES = np.linspace(0.0, 6.0, 13)
LAW = DelayLaw(
    [DelayComponent("gamma", 1.0, 8.0, 0.5), DelayComponent("lognormal", 2.5, 30.0, 0.5)]
)


@pytest.fixture(scope="module")
def many() -> np.ndarray:
    """40 000 cells of one process: enough for each fact to show within a few standard errors."""
    return simulate_counts(LAM_B, LAM_D, LAW, TIMES, 40_000, np.random.default_rng(1))


def test_mean_solves_the_ode(many: np.ndarray) -> None:
    y = mean_curve(LAM_B, LAM_D, LAW, TIMES)
    # the quadrature solution satisfies dy/dt = λ_b F − λ_d y (central differences, fine grid)
    t = np.linspace(0, 6, 6001)
    yf = mean_curve(LAM_B, LAM_D, LAW, t[::100])
    dy = np.gradient(yf, t[::100])
    resid = dy - (LAM_B * LAW.cdf(t[::100]) - LAM_D * yf)
    assert np.abs(resid[2:-2]).max() < 0.05 * LAM_B
    se = np.sqrt(np.maximum(y, 1e-9) / many.shape[0])
    z = (many.mean(0) - y)[1:] / se[1:]
    assert np.abs(z).max() < 4.5, z


def test_marginals_are_poisson(many: np.ndarray) -> None:
    n = many.shape[0]
    for j in (2, 5, 12):
        col = many[:, j]
        ratio = col.var(ddof=1) / col.mean()
        assert abs(ratio - 1) < 4.5 * math.sqrt(2 / n), (j, ratio)
        # and the whole pmf: chi-square against Poisson(mean), tails pooled
        m = col.mean()
        ks = np.arange(int(stats.poisson.ppf(0.001, m)), int(stats.poisson.ppf(0.999, m)) + 1)
        observed = np.array([(col == k).sum() for k in ks], dtype=float)
        expected = stats.poisson.pmf(ks, m) * n
        observed = np.append(observed, n - observed.sum())
        expected = np.append(expected, n - expected.sum())
        assert stats.chisquare(observed, expected, ddof=1).pvalue > 1e-4


def test_transition_law_is_binomial_plus_poisson(many: np.ndarray) -> None:
    """Y(t+h) | Y(t) = a: the empirical pmf against the exact law that the likelihood sums."""
    curve = MeanCurve(torch.tensor(TIMES), 40)
    grid = curve.grid.numpy()
    p, mu, _ = curve.transitions(
        torch.tensor(LAW.pdf(grid)), torch.tensor(LAM_B), torch.tensor(LAM_D)
    )
    j = 4
    a = int(np.bincount(many[:, j]).argmax())
    nxt = many[many[:, j] == a, j + 1]
    bs = np.arange(0, int(nxt.max()) + 1)
    pairs = torch.tensor(np.stack([np.full(bs.size, a), bs], 1), dtype=torch.float64)
    trans = PoissonTransitions(pairs)
    pmf = torch.exp(-trans(p[j : j + 1], mu[j : j + 1])).squeeze(-1).numpy()
    full = PoissonTransitions(torch.tensor(np.stack([np.full(400, a), np.arange(400)], 1)))
    assert abs(torch.exp(-full(p[j : j + 1], mu[j : j + 1])).sum().item() - 1) < 1e-9
    observed = np.bincount(nxt, minlength=bs.size).astype(float)
    expected = pmf * nxt.size
    keep = expected > 5
    obs = np.append(observed[keep], nxt.size - observed[keep].sum())
    exp = np.append(expected[keep], nxt.size - expected[keep].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-4


def test_autocovariance_reads_lambda_d(many: np.ndarray) -> None:
    h = TIMES[1] - TIMES[0]
    for j in (3, 6, 10):
        x, y = many[:, j].astype(float), many[:, j + 1].astype(float)
        r = np.cov(x, y)[0, 1] / x.var(ddof=1)
        # SE of a regression slope: sqrt((1 − ρ²)·Var(y) / (n·Var(x)))
        rho = np.corrcoef(x, y)[0, 1]
        se = math.sqrt((1 - rho**2) * y.var() / (x.size * x.var()))
        assert abs(r - math.exp(-LAM_D * h)) < 4.5 * se, (j, r)


def test_simulate_writes_csv_and_truth_that_load_back(tmp_path: Path) -> None:
    traces, truth = simulate(SimCfg(n_cells=7, n_times=11), seed=3)
    truth_path = write(traces, truth, tmp_path / "cells.csv")
    back = read_traces(tmp_path / "cells.csv")
    assert back.counts and back.n_cells == 7 and np.array_equal(back.values, traces.values)
    assert truth_path.name == "cells.truth.json" and "f_tau" in truth_path.read_text()
    again, _ = simulate(SimCfg(n_cells=7, n_times=11), seed=3)
    assert np.array_equal(again.values, traces.values)  # seeded
    fluo, _ = simulate(SimCfg(n_cells=7, n_times=11, scale=3.0, noise_sd=2.0), seed=3)
    assert not fluo.counts and not np.array_equal(fluo.values, 3.0 * traces.values)


BAD = {
    "ragged": ("time,a,b\n0,0,0\n1,2\n2,3,4\n", "row 3 has 2 columns"),
    "non-numeric": ("0,0,0\n1,2,x\n2,3,4\n", "row 2, column 3: not a number"),
    "negative count": ("0,0,0\n1,2,-1\n2,3,4\n", "row 2, column 3: negative count"),
    "time not increasing": ("t,a,b\n0,0,0\n1,2,2\n1,3,4\n", "row 4, column 1"),
    "one cell": ("0,0\n1,2\n2,3\n", "at least 2 cell columns"),
    "two times": ("0,0,0\n1,2,2\n", "at least 3 time rows"),
    "empty": ("", "no data rows"),
    "infinite": ("0,0,0\n1,inf,2\n2,3,4\n", "not finite"),
    "tab-separated": ("time\ta\tb\n0\t0\t0\n1\t2\t2\n2\t3\t4\n", "separated by tabs"),
    "semicolon-separated": ("0;0;0\n1;2,5;2\n2;3;4\n", "separated by semicolons"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_loader_errors_name_file_row_and_column(name: str, tmp_path: Path) -> None:
    text, needle = BAD[name]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as exc:
        read_traces(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and needle in msg, msg


def test_loader_accepts_intensities_and_missing_header(tmp_path: Path) -> None:
    path = tmp_path / "fluo.csv"
    path.write_text("0,0.1,-0.2\n0.5,3.5,2.25\n1,7,8\n")
    tr = read_traces(path)
    assert not tr.counts and tr.names == ["cell1", "cell2"] and tr.times.tolist() == [0, 0.5, 1]


@pytest.mark.parametrize("header", ["", "time,a,b\n"])
def test_loader_drops_a_byte_order_mark(header: str, tmp_path: Path) -> None:
    """Excel's UTF-8 BOM must not make a header-less first row (t = 0) a header."""
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + header + "0,0,0\n1,2,2\n2,3,4\n").encode("utf-8"))
    tr = read_traces(path)
    assert tr.times.tolist() == [0, 1, 2] and tr.values[:, 0].tolist() == [0, 0]
    assert tr.names == (["a", "b"] if header else ["cell1", "cell2"])
