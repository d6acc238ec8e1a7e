//! A small seeded PRNG written out, so a seed gives the same numbers on every platform and
//! with every crate version: xoshiro256** (Blackman and Vigna) seeded through SplitMix64.
//! Distributions are the textbook transforms of its uniforms.

/// xoshiro256** state.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// SplitMix64: spreads one seed over the four words of state (never all zero).
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        Rng {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe under a logarithm.
    fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open0().ln()
    }

    /// Standard normal (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform_open0();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Lognormal: `exp(mu + sigma * N(0, 1))`.
    pub fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        if sigma == 0.0 {
            return mu.exp();
        }
        (mu + sigma * self.normal()).exp()
    }

    /// Poisson with mean `lambda`: Knuth's product of uniforms for small means, a rounded
    /// normal approximation above 30 (hourly incident counts are far below that).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            let x = lambda + lambda.sqrt() * self.normal();
            return x.round().max(0.0) as u32;
        }
        let limit = (-lambda).exp();
        let mut k = 0u32;
        let mut p = self.uniform_open0();
        while p > limit {
            k += 1;
            p *= self.uniform_open0();
        }
        k
    }

    /// An index drawn with the given (non-negative) weights; `None` when they sum to 0.
    pub fn pick(&mut self, cumulative: &[f64]) -> Option<usize> {
        let total = *cumulative.last()?;
        if total <= 0.0 {
            return None;
        }
        let x = self.uniform() * total;
        Some(
            cumulative
                .partition_point(|&c| c <= x)
                .min(cumulative.len() - 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_known_first_values() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..3).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..3).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        // SplitMix64's first output for seed 0 is the published 0xE220A8397B1DCDAF.
        let mut x = 0u64;
        assert_eq!(splitmix64(&mut x), 0xE220_A839_7B1D_CDAF);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
    }

    #[test]
    fn distributions_have_their_means() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let exp: f64 = (0..n).map(|_| r.exponential(3.0)).sum::<f64>() / n as f64;
        assert!((exp - 3.0).abs() < 0.05, "{exp}");
        let poi: f64 = (0..n).map(|_| f64::from(r.poisson(2.5))).sum::<f64>() / n as f64;
        assert!((poi - 2.5).abs() < 0.03, "{poi}");
        let mut logs: Vec<f64> = (0..n).map(|_| r.lognormal(2.0_f64.ln(), 0.5)).collect();
        logs.sort_by(f64::total_cmp);
        assert!((logs[n / 2] - 2.0).abs() < 0.03, "{}", logs[n / 2]);
    }
}
