//! Numbers from /proc and percentiles.

use serde_json::{json, Value};

/// Memory of a server: a process and its descendants (Puma cluster workers), in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// Resident set size, summed (pages shared after fork count once per process).
    pub(crate) rss: u64,
    /// Proportional set size, summed (shared pages split between their processes).
    pub(crate) pss: u64,
    /// How many processes were summed.
    pub(crate) processes: usize,
}

/// RSS and PSS of `pid` and every descendant.
pub(crate) fn memory_kib(pid: u32) -> Memory {
    let tree = process_tree(pid);
    Memory {
        rss: tree.iter().map(|p| kib_field(&format!("/proc/{p}/status"), "VmRSS:")).sum(),
        pss: tree.iter().map(|p| kib_field(&format!("/proc/{p}/smaps_rollup"), "Pss:")).sum(),
        processes: tree.len(),
    }
}

/// `pid` and its descendants, from /proc/<pid>/task/<tid>/children.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            tree.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    tree
}

/// The `name  1234 kB` line of a /proc file, in KiB (0 when missing).
fn kib_field(path: &str, name: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds used by `pid` and its descendants so far (all their threads).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    process_tree(pid).into_iter().map(process_cpu_seconds).sum()
}

fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); here 0-based after the ')' : 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// p50/p95/p99/max of `values` (milliseconds), rounded to 0.01.
pub(crate) fn percentiles(values: &[f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
        (sorted[index] * 100.0).round() / 100.0
    };
    json!({"count": sorted.len(), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)})
}

/// Open file descriptors of `pid` and its descendants (entries of /proc/<pid>/fd).
pub(crate) fn open_fds(pid: u32) -> usize {
    process_tree(pid)
        .into_iter()
        .map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).map_or(0, |entries| entries.count()))
        .sum()
}
