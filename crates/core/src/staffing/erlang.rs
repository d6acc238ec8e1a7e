//! Erlang C: the M/M/c queue in closed form. Calls arrive as a Poisson stream, each holds one
//! of `c` interchangeable servers for an exponential time, and a call that finds all of them
//! busy waits in line (first come, first served).
//!
//! With traffic `A = λ·D` Erlangs, Erlang B comes from the recurrence
//! `B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1))` (no factorials, so no overflow), then
//! `P(wait) = c·B / (c − A·(1 − B))`, the service level
//! `P(answered within T) = 1 − P(wait)·e^{−(c−A)·T/D}` and the average speed of answer
//! `ASA = P(wait)·D / (c − A)`. With `A >= c` the queue grows without bound: everyone waits.

use serde::Serialize;

/// One Erlang C answer (times in seconds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ErlangC {
    /// Offered load `λ·D` in Erlangs.
    pub traffic: f64,
    /// Share of calls that wait at all.
    pub p_wait: f64,
    /// Share of calls answered within the target.
    pub service_level: f64,
    /// Mean wait over all calls.
    pub asa_seconds: f64,
    /// Server utilisation `A / c`.
    pub occupancy: f64,
}

/// Erlang C for `arrivals_per_hour`, `handle_seconds`, `servers`, `target_seconds`.
/// Callers check the inputs are positive (the CLI and the config do).
pub fn erlang_c(
    arrivals_per_hour: f64,
    handle_seconds: f64,
    servers: u32,
    target_seconds: f64,
) -> ErlangC {
    let a = arrivals_per_hour * handle_seconds / 3600.0;
    let c = f64::from(servers);
    if servers == 0 || a >= c {
        return ErlangC {
            traffic: a,
            p_wait: 1.0,
            service_level: 0.0,
            asa_seconds: f64::INFINITY,
            occupancy: if c > 0.0 { a / c } else { f64::INFINITY },
        };
    }
    let mut b = 1.0;
    for k in 1..=servers {
        b = a * b / (f64::from(k) + a * b);
    }
    let p_wait = c * b / (c - a * (1.0 - b));
    ErlangC {
        traffic: a,
        p_wait,
        service_level: 1.0 - p_wait * (-(c - a) * target_seconds / handle_seconds).exp(),
        asa_seconds: p_wait * handle_seconds / (c - a),
        occupancy: a / c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(x: f64, places: i32) -> f64 {
        let f = 10f64.powi(places);
        (x * f).round() / f
    }

    #[test]
    fn the_textbook_vector_200_calls_an_hour_180_s_14_agents_20_s() {
        let e = erlang_c(200.0, 180.0, 14, 20.0);
        assert_eq!(round(e.traffic, 4), 10.0);
        assert_eq!(round(e.p_wait, 4), 0.1741);
        assert_eq!(round(e.service_level, 3), 0.888);
        assert_eq!(round(e.asa_seconds, 2), 7.84);
    }

    #[test]
    fn an_overloaded_queue_makes_everyone_wait() {
        let e = erlang_c(30.0, 3600.0, 20, 60.0);
        assert_eq!(e.p_wait, 1.0);
        assert_eq!(e.service_level, 0.0);
        assert!(e.asa_seconds.is_infinite());
    }

    #[test]
    fn one_server_is_m_m_1() {
        // M/M/1: P(wait) = ρ, ASA = ρ·D/(1−ρ).
        let e = erlang_c(1.0, 1800.0, 1, 0.0);
        assert!((e.p_wait - 0.5).abs() < 1e-12);
        assert!((e.asa_seconds - 1800.0).abs() < 1e-9);
    }
}
