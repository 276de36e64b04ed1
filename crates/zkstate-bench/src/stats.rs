//! Percentiles from sorted samples, and how durations are printed.

use std::time::Duration;

/// The summary of one series of latency samples, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises `samples` (nanoseconds; sorted in place). `None` when there are none.
    pub fn of(samples: &mut [f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        Some(Summary {
            n: samples.len(),
            p50: percentile(samples, 50.0),
            p90: percentile(samples, 90.0),
            p99: percentile(samples, 99.0),
            max: samples[samples.len() - 1],
        })
    }

    /// Summarises durations.
    pub fn of_durations(samples: &[Duration]) -> Option<Summary> {
        let mut nanos: Vec<f64> = samples.iter().map(|d| d.as_nanos() as f64).collect();
        Summary::of(&mut nanos)
    }
}

/// The nearest-rank percentile of sorted samples: the smallest sample with at least `p` % of the
/// samples at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A duration in nanoseconds, with a unit that keeps three significant digits.
pub fn format_nanos(ns: f64) -> String {
    if ns < 1_000.0 {
        if ns < 100.0 {
            format!("{ns:.1} ns")
        } else {
            format!("{ns:.0} ns")
        }
    } else if ns < 1_000_000.0 {
        let us = ns / 1_000.0;
        if us < 100.0 {
            format!("{us:.1} µs")
        } else {
            format!("{us:.0} µs")
        }
    } else {
        let ms = ns / 1_000_000.0;
        if ms < 100.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.0} ms")
        }
    }
}

/// A rate in operations per second.
pub fn format_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.1} M/s", per_second / 1e6)
    } else if per_second >= 1e4 {
        format!("{:.0} k/s", per_second / 1e3)
    } else if per_second >= 10.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.2}/s")
    }
}

/// A size in bytes.
pub fn format_bytes(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// A ratio, `zkstate / baseline`.
pub fn format_ratio(ratio: f64) -> String {
    if !(0.01..100.0).contains(&ratio) {
        format!("{ratio:.0e}×")
    } else if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.2}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Summary::of(&mut samples).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
        let mut one = vec![7.0];
        let s = Summary::of(&mut one).unwrap();
        assert_eq!((s.p50, s.p99), (7.0, 7.0));
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn formats() {
        assert_eq!(format_nanos(38.24), "38.2 ns");
        assert_eq!(format_nanos(512_300.0), "512 µs");
        assert_eq!(format_nanos(48_300.0), "48.3 µs");
        assert_eq!(format_nanos(4_200_000.0), "4.20 ms");
        assert_eq!(format_ratio(1.234), "1.23×");
        assert_eq!(format_bytes(2048.0), "2.0 KiB");
    }
}
