"""experiments/stats.py on synthetic per-case scores with a known effect: the interval recovers it, a zero
effect is called undetectable, seed-level variation widens the interval, and pairing goes by (seed, case)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import stats as ps


def _scores(effect_by_seed, n_cases=200, case_sd=8.0, rng_seed=0):
    """(A, B) tables {(seed, case): Dice points}: B is a per-case difficulty, A = B + the seed's effect + noise."""
    rng = np.random.default_rng(rng_seed)
    a, b, diffs = {}, {}, {}
    for s, effect in enumerate(effect_by_seed):
        base = rng.uniform(40, 90, n_cases)
        noise = rng.normal(0, case_sd, n_cases)
        for i in range(n_cases):
            b[str(s), f"case{i:03d}"] = base[i]
            a[str(s), f"case{i:03d}"] = base[i] + effect + noise[i]
        diffs[str(s)] = effect + noise
    return a, b, diffs


def test_a_true_effect_of_three_points_is_recovered_and_zero_excluded():
    a, b, diffs = _scores([3.0, 3.0, 3.0])
    c = ps.compare(a, b)
    assert (c.n_seeds, c.n_cases, c.n_pairs) == (3, 200, 600)
    assert c.mean_points == pytest.approx(np.mean([d.mean() for d in diffs.values()]), abs=1e-9)
    assert c.lo_points < 3.0 < c.hi_points and c.lo_points > 0
    every = np.concatenate(list(diffs.values()))
    assert c.win_share == pytest.approx(np.mean(every > 0))
    # the seeds share one effect: the interval is about the normal-theory one of the pooled cases
    # (mean +- 1.96 sd / sqrt(600)), the seed level adding little
    se = every.std(ddof=1) / np.sqrt(every.size)
    assert c.hi_points - c.lo_points == pytest.approx(2 * 1.96 * se, rel=0.35)
    assert ps.verdict(c) == f"helps by {c.mean_points:.2f} points [{c.lo_points:+.2f}, {c.hi_points:+.2f}]"
    assert ps.call(c) == "helps"


def test_one_seed_interval_is_the_case_bootstrap_and_says_so():
    a, b, diffs = _scores([3.0], n_cases=150)
    c = ps.compare(a, b)
    d = diffs["0"]
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert c.n_seeds == 1 and c.mean_points == pytest.approx(d.mean())
    assert c.lo_points == pytest.approx(d.mean() - 1.96 * se, abs=0.25 * se + 0.05)
    assert c.hi_points == pytest.approx(d.mean() + 1.96 * se, abs=0.25 * se + 0.05)
    assert ps.verdict(c).endswith("(one seed: the interval covers case sampling only; seed variation is not captured)")


def test_a_zero_effect_gives_an_interval_around_zero_and_no_verdict_of_help():
    a, b, _ = _scores([0.0, 0.0, 0.0], rng_seed=3)
    c = ps.compare(a, b)
    assert c.lo_points < 0 < c.hi_points
    bound = max(abs(c.lo_points), abs(c.hi_points))
    assert bound < 2.0  # 600 pairs with sd 8: the interval is about +-0.65
    assert ps.verdict(c) == (
        f"no difference detectable: the interval [{c.lo_points:+.2f}, {c.hi_points:+.2f}] rules out effects larger "
        f"than {bound:.2f} points"
    )
    assert ps.call(c) == f"no difference detectable (rules out > {bound:.2f})"


def test_a_harmful_effect_is_called_so():
    a, b, _ = _scores([-2.0, -2.5, -1.5])
    c = ps.compare(a, b)
    assert c.hi_points < 0 and ps.verdict(c).startswith(f"hurts by {-c.mean_points:.2f} points [")
    assert ps.call(c) == "hurts"
    assert c.mean_points == pytest.approx(-2.0, abs=1.0)


def test_seed_level_variation_widens_the_interval():
    """Same case noise; once the effect differs between seeds (+3 on average, seeds at -1, +3, +7) the seed-level
    resampling must widen the interval well beyond the case-only width, and no longer exclude zero."""
    a0, b0, _ = _scores([3.0, 3.0, 3.0])
    a1, b1, _ = _scores([-1.0, 3.0, 7.0])
    same, spread = ps.compare(a0, b0), ps.compare(a1, b1)
    assert same.mean_points == pytest.approx(spread.mean_points, abs=1e-9)  # the offsets average to the same
    assert spread.hi_points - spread.lo_points > 3 * (same.hi_points - same.lo_points)
    # with three seeds at -1 / +3 / +7 the seed-means bootstrap alone spans about the two extreme seeds' means
    assert spread.lo_points < 1.0 and spread.hi_points > 5.0


def test_the_hierarchical_draws_resample_seeds_then_cases():
    """Two seeds whose differences are constant within the seed (0 and 10): each draw's mean is 0, 5 or 10 with
    probabilities 1/4, 1/2, 1/4 (seeds drawn with replacement), whatever the case draw."""
    draws = ps.hierarchical_bootstrap([np.zeros(7), np.full(5, 10.0)], n_draws=20_000, rng_seed=0)
    values, counts = np.unique(np.round(draws, 9), return_counts=True)
    assert values.tolist() == [0.0, 5.0, 10.0]
    assert counts / counts.sum() == pytest.approx([0.25, 0.5, 0.25], abs=0.015)
    # within one seed the cases are resampled: a seed of differences 0 / 10 gives means between, centred on 5
    one = ps.hierarchical_bootstrap([np.array([0.0, 10.0] * 50)], n_draws=20_000, rng_seed=0)
    assert one.mean() == pytest.approx(5.0, abs=0.05)
    assert one.std() == pytest.approx(5.0 / np.sqrt(100), rel=0.05)  # sd of the mean of 100 draws of 0/10


def test_pairing_is_by_seed_and_case_not_by_position():
    """The same long tables with their rows shuffled give the same comparison; a case only one method has is left
    out; and a positional pairing of the shuffled rows would give another answer."""
    rng = np.random.default_rng(7)
    seeds = np.repeat(["0", "1"], 30)
    cases = np.tile([f"c{i:02d}" for i in range(30)], 2)  # ordered by name = by position
    b_vals = rng.uniform(50, 90, 60)
    a_vals = b_vals + 3.0 + rng.normal(0, 1, 60)
    ordered = ps.compare(ps.table(seeds, cases, a_vals), ps.table(seeds, cases, b_vals))
    perm = rng.permutation(60)
    b_shuffled = ps.table(seeds[perm], cases[perm], b_vals[perm])
    shuffled = ps.compare(ps.table(seeds, cases, a_vals), b_shuffled)
    assert shuffled == ordered
    assert ordered.mean_points == pytest.approx(np.mean(a_vals - b_vals))
    assert ordered.win_share == 1.0  # every true pair: A = B + 3 + noise of sd 1
    assert np.mean(a_vals > b_vals[perm]) < 0.8  # what pairing the shuffled rows by position would have said
    # the same case name under another seed is another pair: swapping the seeds of B changes the result
    swapped = ps.table(np.where(seeds == "0", "1", "0"), cases, b_vals)
    assert ps.compare(ps.table(seeds, cases, a_vals), swapped).win_share < ordered.win_share
    # a case only A has is not paired
    a_extra = ps.table(seeds, cases, a_vals) | {("0", "only_in_a"): 100.0}
    assert ps.compare(a_extra, ps.table(seeds, cases, b_vals)) == ordered
    by_seed = ps.pair_by_seed_case(ps.table(seeds, cases, a_vals), b_shuffled)
    assert list(by_seed) == ["0", "1"] and by_seed["1"] == pytest.approx(a_vals[30:] - b_vals[30:])


def test_same_inputs_same_interval_and_errors_name_the_problem():
    a, b, _ = _scores([1.0, 2.0], n_cases=40)
    assert ps.compare(a, b) == ps.compare(dict(reversed(list(a.items()))), b)
    assert ps.compare(a, b, rng_seed=1) != ps.compare(a, b)
    with pytest.raises(ValueError, match="no \\(seed, case\\) pair"):
        ps.compare({("0", "x"): 1.0}, {("1", "x"): 1.0})
    with pytest.raises(ValueError, match="appears twice"):
        ps.table(["0", "0"], ["x", "x"], [1.0, 2.0])


def test_the_interval_covers_the_true_effect_about_95_times_in_100():
    """Coverage over 40 independent synthetic studies (3 seeds x 100 cases, true effect +3): close to the nominal
    95 % (a binomial 95 % range for 40 trials is about 33..40 hits)."""
    hits = 0
    for r in range(40):
        a, b, _ = _scores([3.0, 3.0, 3.0], n_cases=100, rng_seed=100 + r)
        c = ps.compare(a, b, n_draws=1000)
        hits += c.lo_points < 3.0 < c.hi_points
    assert 33 <= hits <= 40
