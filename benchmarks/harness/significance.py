"""Almost stochastic order (ASO; Dror, Shlomov & Reichart, ACL 2019), implemented here.

Why not ``deepsig.aso``: it runs offline and is deterministic with a seed, but it takes about
13 s per pair with 1000 bootstrap iterations (a Python-level ``np.vectorize`` quantile per
bootstrap step), so a 6-system x 8-metric table needs tens of minutes; it also reseeds numpy's
*global* RNG as a side effect. This implementation computes the same statistic exactly and
vectorised (milliseconds per pair); tests compare it with deepsig on the same data.

Definitions, for scores where higher is better (we negate lower-is-better metrics first):
``F``, ``G`` are the empirical CDFs of systems A and B, ``F^-1``, ``G^-1`` their quantile
functions (``F^-1(t) = x_(ceil(n t))``, the same convention as deepsig/Dror's code). A is
stochastically dominant when ``F^-1(t) >= G^-1(t)`` for all t; the violation set is
``V = {t : F^-1(t) < G^-1(t)}`` and the violation ratio

    eps_W2(F, G) = int_V (F^-1 - G^-1)^2 dt / int_0^1 (F^-1 - G^-1)^2 dt

(the share of the squared 2-Wasserstein distance where A is worse). Both quantile functions are
step functions on the grid ``{i/n} U {j/m}``, so the integrals are exact sums. (deepsig samples
the integrand at ``t = dt, 2dt, ...`` with ``dt = 0.005``; when A and B are close, that
approximation is coarse - e.g. 0.56 instead of the exact 0.41 for two samples of 300 from the
same normal - but there the statistic is far from significance anyway; for separated systems
the two agree to about 0.01.) The test
statistic is the upper confidence bound

    eps_min = eps_W2 - sqrt((n + m) / (n m)) * sigma_hat * Phi^-1(alpha),

with ``sigma_hat`` the bootstrap standard deviation of ``sqrt(n m / (n + m)) (eps*_W2 - eps_W2)``
(resampling both score lists with replacement, ``iterations`` times, numpy ``default_rng(seed)``)
and ``alpha = 1 - confidence`` (divided by the multiple-comparison factor, see below).
Clipped to [0, 1]. Reading: ``eps_min <= 0.5`` -> A is significantly better than B (almost
stochastically dominant); ``eps_min = 0`` -> A dominates B outright.

p-value and multiple comparisons. ``eps_min(alpha) <= 0.5`` exactly when
``alpha >= p = Phi((eps_W2 - 0.5) * sqrt(n m / (n + m)) / sigma_hat)``, so ``p`` is the smallest
level at which "A is better than B" is significant (a one-sided test of ``eps_W2 >= 0.5``). That
turns every correction into an adjustment of ``p`` over the family of one metric's k(k-1)/2
unordered pairs (the family deepsig's ``multi_aso`` Bonferroni-corrects): ``none`` (the paper:
each pair at ``alpha``), ``bonferroni`` (``min(1, m p)``, i.e. ``eps_min`` at ``alpha / m``) and
``holm`` (step-down: pairs sorted by their smaller directional ``p``, the i-th multiplied by
``m - i + 1``, running maximum). A cell is significant when its adjusted ``p <= alpha``; the
``eps_min`` shown is evaluated at the level the correction gives that pair.

Degenerate case: identical empirical distributions (``int (F^-1 - G^-1)^2 = 0``) give no order
in either direction; we return ``eps_min = 1.0`` and ``eps_W2 = 0.5`` (deepsig sets the ratio to
0.5 and adds its bootstrap spread, which for non-constant samples also clips to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class ASOResult:
    eps_min: float  # the test statistic (upper bound of the violation ratio)
    violation_ratio: float  # eps_W2 on the observed samples
    n_a: int
    n_b: int
    identical: bool = False
    sigma: float = 0.0  # bootstrap standard deviation (sigma_hat above)
    p_value: float = 1.0  # smallest alpha at which eps_min(alpha) <= 0.5 (uncorrected)


def _grid(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval widths and, per interval, the order-statistic index of each quantile function."""
    edges = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    widths = np.diff(edges)
    mids = (edges[:-1] + edges[1:]) / 2
    ia = np.clip(np.ceil(n * mids).astype(int) - 1, 0, n - 1)
    ib = np.clip(np.ceil(m * mids).astype(int) - 1, 0, m - 1)
    return widths, ia, ib


def _violation(sorted_a: np.ndarray, sorted_b: np.ndarray, grid) -> np.ndarray:
    """eps_W2 for (batches of) sorted samples; NaN where the distributions coincide."""
    widths, ia, ib = grid
    diff = sorted_a[..., ia] - sorted_b[..., ib]
    sq = diff * diff * widths
    total = sq.sum(axis=-1)
    viol = np.where(diff < 0, sq, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, viol / np.where(total > 0, total, 1.0), np.nan)


def violation_ratio(scores_a: Sequence[float], scores_b: Sequence[float]) -> float:
    """eps_W2(F_A, F_B): share of the squared W2 distance where A is worse (NaN if identical)."""
    a = np.sort(np.asarray(scores_a, dtype=np.float64))
    b = np.sort(np.asarray(scores_b, dtype=np.float64))
    return float(_violation(a, b, _grid(a.size, b.size)))


def eps_min_at(eps: float, sigma: float, n: int, m: int, alpha: float) -> float:
    """``eps_min`` of an observed ``eps_W2`` and bootstrap ``sigma`` at level ``alpha`` (clipped)."""
    const = np.sqrt(n * m / (n + m))
    return float(np.clip(eps - sigma / const * NormalDist().inv_cdf(alpha), 0.0, 1.0))


def aso_p_value(eps: float, sigma: float, n: int, m: int) -> float:
    """Smallest ``alpha`` with ``eps_min(alpha) <= 0.5`` (see module docstring)."""
    if sigma <= 0:
        return 0.0 if eps <= 0.5 else 1.0
    const = np.sqrt(n * m / (n + m))
    return float(NormalDist().cdf((eps - 0.5) * const / sigma))


def aso(scores_a: Sequence[float], scores_b: Sequence[float], *, confidence: float = 0.95,
        num_comparisons: int = 1, iterations: int = 1000, seed: int = 42) -> ASOResult:
    """ASO test that A (higher scores = better) is better than B; see module docstring."""
    a = np.sort(np.asarray(scores_a, dtype=np.float64).reshape(-1))
    b = np.sort(np.asarray(scores_b, dtype=np.float64).reshape(-1))
    n, m = a.size, b.size
    if n < 2 or m < 2:
        raise ValueError(f"ASO needs at least 2 scores per system, got {n} and {m}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("ASO scores must be finite")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    grid = _grid(n, m)
    eps = float(_violation(a, b, grid))
    if np.isnan(eps):
        return ASOResult(1.0, 0.5, n, m, identical=True)
    rng = np.random.default_rng(seed)
    boot = np.empty(iterations)
    chunk = max(1, min(iterations, 2_000_000 // max(1, len(grid[0]))))
    for s in range(0, iterations, chunk):
        k = min(chunk, iterations - s)
        sa = np.sort(a[rng.integers(0, n, size=(k, n))], axis=1)
        sb = np.sort(b[rng.integers(0, m, size=(k, m))], axis=1)
        boot[s : s + k] = _violation(sa, sb, grid)
    boot = np.where(np.isnan(boot), 0.5, boot)  # resamples that coincide carry no order either
    const = np.sqrt(n * m / (n + m))
    sigma = float(np.std(const * (boot - eps)))
    alpha = (1.0 - confidence) / max(1, int(num_comparisons))
    return ASOResult(eps_min_at(eps, sigma, n, m, alpha), eps, n, m, sigma=sigma,
                     p_value=aso_p_value(eps, sigma, n, m))


CORRECTIONS = ("none", "bonferroni", "holm")


def adjust_p_values(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values of one family: ``none``, ``bonferroni`` (min(1, m p)) or ``holm`` (step-down)."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")
    p = [float(x) for x in p_values]
    m = len(p)
    if method == "none":
        return p
    if method == "bonferroni":
        return [min(1.0, m * x) for x in p]
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p[j])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def pairwise_aso(scores: Mapping[str, Mapping[str, float]], higher_is_better: bool, *, confidence: float = 0.95,
                 iterations: int = 1000, seed: int = 42, correction: str = "none") -> dict[str, dict[str, dict]]:
    """``result[A][B]`` = ASO that A is better than B, on the utterances both systems scored.

    Lower-is-better metrics are negated. ``correction`` adjusts for the unordered pairs of this
    metric (module docstring); each cell carries its raw and adjusted ``p`` and ``significant``.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")
    labels = [k for k, v in scores.items() if len(v) >= 2]
    sign = 1.0 if higher_is_better else -1.0
    alpha = 1.0 - confidence
    out: dict[str, dict[str, dict]] = {a: {} for a in labels}
    raw: dict[tuple[str, str], ASOResult] = {}
    for la in labels:
        for lb in labels:
            if la == lb:
                continue
            common = sorted(set(scores[la]) & set(scores[lb]))
            if len(common) < 2:
                out[la][lb] = {"eps_min": None, "violation_ratio": None, "n": len(common), "significant": False,
                               "note": "fewer than 2 utterances scored by both"}
                continue
            xa = [sign * scores[la][u] for u in common]
            xb = [sign * scores[lb][u] for u in common]
            raw[(la, lb)] = aso(xa, xb, confidence=confidence, iterations=iterations, seed=seed)
    pairs = [(la, lb) for i, la in enumerate(labels) for lb in labels[i + 1:] if (la, lb) in raw]
    m = len(pairs)
    # per unordered pair: the direction with the smaller p is the hypothesis the family tests
    best = [min((raw[(a, b)].p_value, (a, b)), (raw[(b, a)].p_value, (b, a))) for a, b in pairs]
    adj_pair = adjust_p_values([p for p, _ in best], correction)
    order = sorted(range(m), key=lambda j: best[j][0])
    factor = {j: (1 if correction == "none" else m if correction == "bonferroni" else m - rank)
              for rank, j in enumerate(order)}
    for j, (a, b) in enumerate(pairs):
        for d in ((a, b), (b, a)):
            r = raw[d]
            if d == best[j][1]:
                adj = adj_pair[j]
            else:  # the other direction: same factor, never below the pair's adjusted p
                adj = r.p_value if correction == "none" else max(adj_pair[j], min(1.0, factor[j] * r.p_value))
            eps_min = 1.0 if r.identical else eps_min_at(r.violation_ratio, r.sigma, r.n_a, r.n_b, alpha / factor[j])
            out[d[0]][d[1]] = {"eps_min": eps_min, "violation_ratio": r.violation_ratio, "n": r.n_a,
                               "identical": r.identical, "p_value": r.p_value, "p_adjusted": adj,
                               "comparisons": factor[j], "significant": bool(adj <= alpha and not r.identical)}
    return out
