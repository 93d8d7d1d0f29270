"""Paired statistics for "does gaze help?": method A minus method B on per-case validation Dice, paired by
(seed, case), with a 95 % interval from a hierarchical bootstrap (seeds, then cases within each drawn seed).

Pure functions on plain tables (``{(seed, case): dice_points}``) and numpy arrays; a seeded RNG, so the same
inputs give the same interval. Used by ``experiments.tables``; nothing here reads files.

    from experiments.stats import compare, verdict
    c = compare({("0", "img1"): 81.0, ...}, {("0", "img1"): 78.5, ...})
    verdict(c)  # 'helps by 2.50 [1.10, 3.90]' / 'hurts by ...' / 'no difference detectable: ...'

Why hierarchical: a seed fixes the labeled set, the initial weights and the data order, so two cases of one
seed share that seed's luck. Resampling cases alone treats them as independent and gives an interval that is
too narrow whenever the methods' ranking changes from seed to seed; resampling seeds first (then cases within
each drawn seed) carries that variation into the interval. With one seed nothing can be said about seed
variation: the interval then covers case sampling only, and the verdict says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

N_DRAWS = 10_000
RNG_SEED = 0
LEVEL = 0.95

Key = tuple[str, str]  # (seed, case)


@dataclass(frozen=True)
class Comparison:
    """A minus B. ``mean_points``: mean over seeds of the per-seed mean paired difference (Dice points);
    ``lo_points`` / ``hi_points``: the ``level`` percentile interval of the hierarchical bootstrap;
    ``win_share``: share of the paired (seed, case) pairs where A scores strictly higher than B."""

    mean_points: float
    lo_points: float
    hi_points: float
    win_share: float
    n_seeds: int
    n_cases: int  # cases per seed (the smallest count when seeds differ)
    n_pairs: int  # paired (seed, case) pairs in all
    level: float = LEVEL


def pair_by_seed_case(a: Mapping[Key, float], b: Mapping[Key, float]) -> dict[str, np.ndarray]:
    """Per seed, the differences A - B of the cases both have, ordered by case name. Pairing is by the
    (seed, case) key, never by position; keys present in only one table are left out."""
    common = sorted(set(a) & set(b))
    out: dict[str, list[float]] = {}
    for seed, case in common:
        out.setdefault(seed, []).append(float(a[seed, case]) - float(b[seed, case]))
    return {seed: np.asarray(d, dtype=np.float64) for seed, d in sorted(out.items(), key=lambda kv: _seed_key(kv[0]))}


def _seed_key(seed: str) -> tuple:
    return (0, int(seed), "") if seed.isdigit() else (1, 0, seed)


def table(seeds: Sequence, cases: Sequence, values: Sequence[float]) -> dict[Key, float]:
    """``{(seed, case): value}`` from three parallel columns (a long table, rows in any order); a repeated
    (seed, case) is an error."""
    out: dict[Key, float] = {}
    for s, c, v in zip(seeds, cases, values, strict=True):
        key = (str(s), str(c))
        if key in out:
            raise ValueError(f"(seed {s}, case {c}) appears twice")
        out[key] = float(v)
    return out


def hierarchical_bootstrap(
    diffs_by_seed: Sequence[np.ndarray], n_draws: int = N_DRAWS, rng_seed: int = RNG_SEED
) -> np.ndarray:
    """``n_draws`` bootstrap replicates of the mean paired difference: each draw picks as many seeds as there
    are, with replacement, then within each drawn seed as many cases as that seed has, with replacement (the
    same case keeps its A and B scores together: the pairs are resampled, not the scores); the replicate is the
    mean over the drawn seeds of the mean of their drawn cases (each seed weighs the same)."""
    diffs = [np.asarray(d, dtype=np.float64) for d in diffs_by_seed]
    if not diffs or any(d.size == 0 for d in diffs):
        raise ValueError("every seed needs at least one paired case")
    rng = np.random.default_rng(rng_seed)
    n_seeds = len(diffs)
    drawn = rng.integers(0, n_seeds, size=(n_draws, n_seeds))  # seed indices per draw
    case_means = np.empty((n_draws, n_seeds))
    for j in range(n_seeds):  # position j of the draw
        for k, d in enumerate(diffs):  # the seed drawn there
            rows = np.flatnonzero(drawn[:, j] == k)
            if rows.size:
                case_means[rows, j] = d[rng.integers(0, d.size, size=(rows.size, d.size))].mean(axis=1)
    return case_means.mean(axis=1)


def compare(
    a_points: Mapping[Key, float],
    b_points: Mapping[Key, float],
    n_draws: int = N_DRAWS,
    rng_seed: int = RNG_SEED,
    level: float = LEVEL,
) -> Comparison:
    """A minus B on the (seed, case) pairs both tables have (Dice in points, i.e. x100)."""
    by_seed = pair_by_seed_case(a_points, b_points)
    if not by_seed:
        raise ValueError("no (seed, case) pair is in both tables")
    diffs = list(by_seed.values())
    draws = hierarchical_bootstrap(diffs, n_draws, rng_seed)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    every = np.concatenate(diffs)
    return Comparison(
        mean_points=float(np.mean([d.mean() for d in diffs])),
        lo_points=float(lo),
        hi_points=float(hi),
        win_share=float(np.mean(every > 0)),
        n_seeds=len(diffs),
        n_cases=min(d.size for d in diffs),
        n_pairs=int(every.size),
        level=level,
    )


def call(c: Comparison) -> str:
    """The verdict in a few words (a markdown table cell, so no '|'): 'helps', 'hurts' or 'no difference detectable
    (rules out > Y)'."""
    if c.lo_points > 0:
        return "helps"
    if c.hi_points < 0:
        return "hurts"
    return f"no difference detectable (rules out > {max(abs(c.lo_points), abs(c.hi_points)):.2f})"


def verdict(c: Comparison) -> str:
    """The sentence the interval supports: 'helps by X [lo, hi]' when the whole interval is above zero, 'hurts
    by X [lo, hi]' when it is below, else 'no difference detectable' with the largest effect the interval leaves
    possible. With one seed it says that the interval covers case sampling only."""
    ci = f"[{c.lo_points:+.2f}, {c.hi_points:+.2f}]"
    if c.lo_points > 0:
        text = f"helps by {c.mean_points:.2f} points {ci}"
    elif c.hi_points < 0:
        text = f"hurts by {-c.mean_points:.2f} points {ci}"
    else:
        bound = max(abs(c.lo_points), abs(c.hi_points))
        text = f"no difference detectable: the interval {ci} rules out effects larger than {bound:.2f} points"
    if c.n_seeds == 1:
        text += " (one seed: the interval covers case sampling only; seed variation is not captured)"
    return text
