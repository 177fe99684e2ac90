//! The significance tests behind the statistical findings: exact binomial tails, the exact tail
//! of a sum of unequal Bernoulli trials (Poisson binomial), a uniformity test (chi-square where
//! every cell expects at least five, otherwise Monte Carlo with a fixed seed, so a report stays
//! byte-identical), and Holm's correction for testing many servers or members at once. Pure
//! arithmetic; what is tested against what lives in `rotation_findings`.

use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF};

/// The error rate each statistical finding is held to: the chance that a healthy pool raises it,
/// per name, kind and analysis (familywise, after Holm's correction within the family).
pub const ALPHA: f64 = 0.001;

/// Answers each cell of a uniformity test must expect before the chi-square approximation is
/// used (Cochran's rule); below that the p-value is estimated by Monte Carlo.
const CHI_SQUARE_MIN_EXPECTED: f64 = 5.0;
/// Monte Carlo draws of a uniformity test (the smallest p-value it can give is 1/10001).
pub const MONTE_CARLO_DRAWS: u32 = 10_000;
/// The fixed seed of the Monte Carlo draws.
const MONTE_CARLO_SEED: u64 = 0x7063_646e_735f_7374;

/// The significance level of the `look`-th judgement (from 1) of data that keeps growing, as
/// the monitor judges its cumulative analysis at every report interval: `alpha / (look (look +
/// 1))`. These sum to `alpha` over all looks, so a healthy pool raises a finding in a whole run
/// with probability at most `alpha` (a Bonferroni split of the error over the looks).
pub fn alpha_at_look(alpha: f64, look: u64) -> f64 {
    let look = look.max(1) as f64;
    alpha / (look * (look + 1.0))
}

/// P(X >= k) for X ~ Binomial(n, p).
pub fn binomial_at_least(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    match Binomial::new(p.clamp(0.0, 1.0), n) {
        Ok(binomial) => binomial.sf(k - 1),
        Err(_) => 1.0,
    }
}

/// P(X >= k) where X counts the successes of independent trials with success probabilities
/// `p` (a Poisson binomial distribution), exactly: the distribution of X is built trial by
/// trial with every count from `k` on held in one absorbing state, so the tail is summed
/// rather than found as one minus the rest (no cancellation when it is tiny).
pub fn at_least_successes(k: usize, p: &[f64]) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > p.len() {
        return 0.0;
    }
    // counts[j]: P(j successes so far) for j < k; counts[k]: P(at least k).
    let mut counts = vec![0.0; k + 1];
    counts[0] = 1.0;
    for &success in p {
        counts[k] += counts[k - 1] * success;
        for j in (1..k).rev() {
            counts[j] = counts[j] * (1.0 - success) + counts[j - 1] * success;
        }
        counts[0] *= 1.0 - success;
    }
    counts[k].min(1.0)
}

/// Holm's step-down adjustment of `p_values` (familywise error control): the adjusted p-values,
/// in the input's order. A hypothesis is rejected at level alpha when its adjusted p is below.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &index) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[index]).min(1.0));
        adjusted[index] = running;
    }
    adjusted
}

/// A test of counts against a uniform spread over their cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uniformity {
    /// The chi-square statistic.
    pub statistic: f64,
    /// Its degrees of freedom (cells - 1).
    pub degrees_of_freedom: u64,
    /// The probability of a statistic at least this large under a uniform spread (None when
    /// the chi-square approximation does not hold and Monte Carlo was not asked for).
    pub p_value: Option<f64>,
    /// True when `p_value` is a Monte Carlo estimate (some cell expected fewer than five).
    pub monte_carlo: bool,
}

/// Tests `counts` against a uniform spread: the chi-square statistic, with its p-value from the
/// chi-square distribution when every cell expects at least five, otherwise (with
/// `monte_carlo`; none without) from [`MONTE_CARLO_DRAWS`] uniform samples of the same size
/// drawn with a fixed seed ((1 + samples at least as uneven) / (1 + draws)). None with fewer
/// than two cells or no observations.
pub fn uniformity(counts: &[u64], monte_carlo: bool) -> Option<Uniformity> {
    let total: u64 = counts.iter().sum();
    if counts.len() < 2 || total == 0 {
        return None;
    }
    let cells = counts.len();
    let expected = total as f64 / cells as f64;
    let statistic = chi_square(counts, expected);
    let degrees_of_freedom = cells as u64 - 1;
    let chi_square_holds = expected >= CHI_SQUARE_MIN_EXPECTED;
    let p_value = if chi_square_holds {
        ChiSquared::new(degrees_of_freedom as f64)
            .ok()
            .map(|distribution| distribution.sf(statistic))
    } else if monte_carlo {
        let mut rng = fastrand::Rng::with_seed(MONTE_CARLO_SEED);
        let mut drawn = vec![0u64; cells];
        // A simulated statistic within rounding of the observed one counts as "as uneven".
        let bar = statistic - 1e-9 * statistic.max(1.0);
        let as_uneven = (0..MONTE_CARLO_DRAWS)
            .filter(|_| {
                drawn.fill(0);
                for _ in 0..total {
                    drawn[rng.usize(..cells)] += 1;
                }
                chi_square(&drawn, expected) >= bar
            })
            .count();
        Some((1 + as_uneven) as f64 / (1 + MONTE_CARLO_DRAWS) as f64)
    } else {
        None
    };
    Some(Uniformity {
        statistic,
        degrees_of_freedom,
        p_value,
        monte_carlo: !chi_square_holds && p_value.is_some(),
    })
}

fn chi_square(counts: &[u64], expected: f64) -> f64 {
    counts
        .iter()
        .map(|&observed| (observed as f64 - expected).powi(2) / expected)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a / b - 1.0).abs() < 1e-9
    }

    #[test]
    fn binomial_tails_match_hand_computed_values() {
        // 10 fair coins, at least 9 heads: (10 + 1) / 1024.
        assert!(close(binomial_at_least(9, 10, 0.5), 11.0 / 1024.0));
        assert_eq!(binomial_at_least(0, 10, 0.5), 1.0);
        assert_eq!(binomial_at_least(11, 10, 0.5), 0.0);
    }

    #[test]
    fn the_poisson_binomial_tail_is_exact_and_meets_the_binomial() {
        // Equal probabilities: the binomial tail.
        let p = vec![1.0 / 32.0; 53];
        for k in [1, 2, 5, 20] {
            assert!(close(
                at_least_successes(k, &p),
                binomial_at_least(k as u64, 53, 1.0 / 32.0)
            ));
        }
        // Unequal: P(at least 2 of {0.5, 0.25, 0.1}) by hand.
        let hand = 0.5 * 0.25 * 0.9 + 0.5 * 0.75 * 0.1 + 0.5 * 0.25 * 0.1 + 0.5 * 0.25 * 0.1;
        assert!(close(at_least_successes(2, &[0.5, 0.25, 0.1]), hand));
        // A tiny tail keeps its digits: all 40 of 40 trials at 1/32.
        let all = at_least_successes(40, &[1.0 / 32.0; 40]);
        assert!(close(all, 32f64.powi(-40)), "{all}");
        assert_eq!(at_least_successes(0, &[]), 1.0);
        assert_eq!(at_least_successes(1, &[]), 0.0);
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_the_input_order() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        // Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, made monotone.
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn uniformity_uses_chi_square_when_valid_and_a_seeded_monte_carlo_otherwise() {
        // 3 cells, 60 observations: 30/20/10: statistic 10, df 2, p = exp(-5).
        let test = uniformity(&[30, 20, 10], false).unwrap();
        assert!((test.statistic - 10.0).abs() < 1e-12);
        assert_eq!(test.degrees_of_freedom, 2);
        assert!(close(test.p_value.unwrap(), (-5.0f64).exp()) && !test.monte_carlo);
        let test = uniformity(&[60, 40], false).unwrap();
        assert!((test.statistic - 4.0).abs() < 1e-12);
        assert!((test.p_value.unwrap() - 0.045_500_263_9).abs() < 1e-8);
        let even = uniformity(&[25, 25, 25, 25], false)
            .unwrap()
            .p_value
            .unwrap();
        assert!((even - 1.0).abs() < 1e-12);
        assert!(uniformity(&[5], true).is_none() && uniformity(&[0, 0], true).is_none());
        // 129 cells, 164 observations, each cell 1 or 2: a uniform-looking spread.
        let spread: Vec<u64> = (0..129).map(|i| 1 + u64::from(i < 35)).collect();
        let test = uniformity(&spread, true).unwrap();
        assert!(test.monte_carlo && test.p_value.unwrap() > 0.5, "{test:?}");
        assert_eq!(
            uniformity(&spread, true),
            Some(test),
            "the same draws every time"
        );
        assert_eq!(uniformity(&spread, false).unwrap().p_value, None);
        // Everything in one of 10 cells, 20 observations: as uneven as it gets.
        let mut piled = vec![0; 10];
        piled[3] = 20;
        let test = uniformity(&piled, true).unwrap();
        assert!(test.monte_carlo);
        assert!(close(
            test.p_value.unwrap(),
            1.0 / f64::from(MONTE_CARLO_DRAWS + 1)
        ));
    }

    #[test]
    fn looks_share_the_error_rate() {
        let total: f64 = (1..100_000).map(|look| alpha_at_look(ALPHA, look)).sum();
        assert!(total < ALPHA && total > 0.9999 * ALPHA);
        assert!(close(alpha_at_look(ALPHA, 1), ALPHA / 2.0));
    }
}
