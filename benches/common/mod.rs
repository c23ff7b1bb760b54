//! Measuring helpers shared by the benchmarks (`#[path = "common/mod.rs"] mod common;`): memory from
//! /proc/self/status, CPU time from /proc/self/stat and /proc/thread-self/stat. CPU time is what a busy
//! shared machine disturbs least; the benchmarks report it beside wall time.

#![allow(dead_code)]

use std::process::Command;

fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Peak resident memory of this process so far (VmHWM), MB.
pub fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// Resident memory of this process now (VmRSS), MB.
pub fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// Fields of a /proc stat file after the command name: (utime + stime, cutime + cstime) in seconds.
fn stat_cpu(path: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let tick = clock_tick();
    let get = |field: usize| f.get(field - 3).copied().unwrap_or(f64::NAN) / tick;
    (get(14) + get(15), get(16) + get(17))
}

/// CPU seconds (user + system) used so far by this process (all threads) and by its waited-for
/// children.
pub fn cpu_secs() -> (f64, f64) {
    stat_cpu("/proc/self/stat")
}

/// CPU seconds used so far by the calling thread alone.
pub fn thread_cpu_secs() -> f64 {
    stat_cpu("/proc/thread-self/stat").0
}

fn clock_tick() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
