//! The statistics of a report: percentiles, 95% confidence intervals (Wilson's score interval
//! for proportions pooled over runs, the normal interval over runs for means), the Gini
//! coefficient of load and Grafana OnCall's pairwise balance.

use serde::Serialize;

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A value with its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    pub fn exact(value: f64) -> Estimate {
        Estimate {
            value,
            lo: value,
            hi: value,
        }
    }

    /// Rounded to `places` decimals, so reports print the same on every platform.
    pub fn rounded(self, places: i32) -> Estimate {
        Estimate {
            value: round(self.value, places),
            lo: round(self.lo, places),
            hi: round(self.hi, places),
        }
    }
}

pub fn round(x: f64, places: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let f = 10f64.powi(places);
    let r = (x * f).round() / f;
    if r == 0.0 { 0.0 } else { r }
}

/// Wilson's score interval for `hits` out of `n` (`n = 0`: the whole of [0, 1], value 0).
pub fn wilson(hits: u64, n: u64) -> Estimate {
    if n == 0 {
        return Estimate {
            value: 0.0,
            lo: 0.0,
            hi: 1.0,
        };
    }
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Estimate {
        value: p,
        lo: (centre - half).max(0.0),
        hi: (centre + half).min(1.0),
    }
}

/// The mean of per-run values with the normal 95% interval `mean ± z·s/√n` (one run: no width).
/// Non-finite values are left out.
pub fn mean_ci(values: &[f64]) -> Estimate {
    let xs: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if xs.is_empty() {
        return Estimate::exact(0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return Estimate::exact(mean);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    let half = Z95 * (var / n).sqrt();
    Estimate {
        value: mean,
        lo: mean - half,
        hi: mean + half,
    }
}

/// The `q`-quantile (0..=1) of sorted values, linearly interpolated (NaN when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (i, frac) = (pos.floor() as usize, pos - pos.floor());
            if i + 1 >= n {
                sorted[n - 1]
            } else {
                sorted[i] + (sorted[i + 1] - sorted[i]) * frac
            }
        }
    }
}

/// The Gini coefficient of non-negative loads: 0 when everyone carries the same, towards 1
/// when one person carries everything. `Σ(2i − n − 1)·x_i / (n·Σx)` over sorted loads.
pub fn gini(loads: &[f64]) -> f64 {
    let mut xs = loads.to_vec();
    xs.sort_by(f64::total_cmp);
    let (n, total) = (xs.len() as f64, xs.iter().sum::<f64>());
    if xs.len() < 2 || total <= 0.0 {
        return 0.0;
    }
    let weighted: f64 = xs
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * (i as f64 + 1.0) - n - 1.0) * x)
        .sum();
    weighted / (n * total)
}

/// Grafana OnCall's balance score: the mean over every pair of people of
/// `min(load) / max(load)`; 1 when all carry the same. Two people with no load at all count as
/// balanced (Grafana's schedules never have that pair).
pub fn pairwise_balance(loads: &[f64]) -> f64 {
    let n = loads.len();
    if n <= 1 {
        return 1.0;
    }
    let mut score = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (loads[i], loads[j]);
            let hi = a.max(b);
            score += if hi <= 0.0 { 1.0 } else { a.min(b) / hi };
        }
    }
    score / (n * (n - 1) / 2) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_on_known_loads() {
        assert_eq!(gini(&[5.0, 5.0, 5.0, 5.0]), 0.0);
        assert_eq!(gini(&[0.0, 0.0, 0.0, 12.0]), 0.75);
        assert_eq!(round(gini(&[1.0, 2.0, 3.0, 4.0]), 4), 0.25);
        assert_eq!(gini(&[]), 0.0);
    }

    #[test]
    fn pairwise_balance_on_known_loads() {
        assert_eq!(pairwise_balance(&[3.0, 3.0, 3.0]), 1.0);
        // pairs: 1/2, 1/4, 2/4 → mean 5/12
        assert_eq!(round(pairwise_balance(&[1.0, 2.0, 4.0]), 6), 0.416667);
        assert_eq!(pairwise_balance(&[0.0, 10.0]), 0.0);
        assert_eq!(pairwise_balance(&[7.0]), 1.0);
    }

    #[test]
    fn wilson_matches_the_textbook_interval() {
        // 81 of 263: 0.3080 with the interval [0.2553, 0.3662] (Wilson 1927, as tabulated).
        let e = wilson(81, 263).rounded(4);
        assert_eq!((e.value, e.lo, e.hi), (0.308, 0.2553, 0.3662));
        let all = wilson(10, 10);
        assert_eq!(round(all.hi, 4), 1.0);
        assert_eq!(round(all.lo, 4), 0.7225);
    }

    #[test]
    fn mean_interval_and_percentiles() {
        let e = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.value, 3.0);
        assert_eq!(round(e.hi - e.value, 4), 1.3859);
        let xs = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&xs, 0.5), 25.0);
        assert_eq!(percentile(&xs, 1.0), 40.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
