//! Prometheus metrics, hand-rolled: a few labelled counters and one histogram do not justify
//! a metrics framework (decision 0803). Names are listed in `docs/proxy.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

type Labels = Box<[(&'static str, Box<str>)]>;

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// The sum of observations in nanoseconds (584 years of them fit).
    sum_ns: AtomicU64,
}

/// One labelled series of a metric.
struct Series<V> {
    name: &'static str,
    labels: Labels,
    value: V,
}

/// Series by a hash of their name and labels, so that updating one that exists takes a read
/// lock and allocates nothing (every request updates several; decision 0615).
struct Table<V> {
    map: RwLock<HashMap<u64, Vec<Series<V>>, BuildHasherDefault<Given>>>,
}

impl<V> Default for Table<V> {
    fn default() -> Table<V> {
        Table { map: RwLock::new(HashMap::default()) }
    }
}

/// FNV-1a over the name and labels: a few short strings per request, where SipHash showed
/// in the profile. The inputs are the operator's service names, fixed codes and status
/// codes, nothing a client chooses, so flooding is no concern.
fn key(name: &str, labels: &[(&'static str, &str)]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |s: &str| {
        for b in s.bytes().chain([0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
    };
    eat(name);
    for (k, v) in labels {
        eat(k);
        eat(v);
    }
    h
}

/// The map's keys are hashes already ([`key`]): used as they are.
#[derive(Default)]
struct Given(u64);

impl Hasher for Given {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn same<V>(s: &Series<V>, name: &str, labels: &[(&'static str, &str)]) -> bool {
    s.name == name
        && s.labels.len() == labels.len()
        && s.labels.iter().zip(labels).all(|((k, v), (k2, v2))| k == k2 && &**v == *v2)
}

impl<V: Default> Table<V> {
    /// Runs `f` on the series, created on first use.
    fn with<R>(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        f: impl FnOnce(&V) -> R,
    ) -> R {
        let k = key(name, labels);
        {
            // A panic while holding a lock cannot leave a table inconsistent (each change is
            // one push or one atomic update), so a poisoned lock is still usable.
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = map.get(&k).and_then(|b| b.iter().find(|s| same(s, name, labels))) {
                return f(&s.value);
            }
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let bucket = map.entry(k).or_default();
        if let Some(s) = bucket.iter().find(|s| same(s, name, labels)) {
            return f(&s.value);
        }
        let labels = labels.iter().map(|(k, v)| (*k, Box::from(*v))).collect();
        bucket.push(Series { name, labels, value: V::default() });
        match bucket.last() {
            Some(s) => f(&s.value),
            None => f(&V::default()),
        }
    }

    /// The value of a series that exists.
    fn get<R>(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        f: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let bucket = map.get(&key(name, labels))?;
        bucket.iter().find(|s| same(s, name, labels)).map(|s| f(&s.value))
    }

    /// Every series of `name`, ordered by labels.
    fn of<R>(&self, name: &str, f: impl Fn(&Labels, &V) -> R) -> Vec<(Labels, R)> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(Labels, R)> = map
            .values()
            .flatten()
            .filter(|s| s.name == name)
            .map(|s| (s.labels.clone(), f(&s.labels, &s.value)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// The proxy's metrics registry.
#[derive(Default)]
pub struct Metrics {
    counters: Table<AtomicU64>,
    histograms: Table<Histogram>,
}

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

const HELP: [(&str, &str, &str); 17] = [
    (
        "l402_proxy_requests_total",
        "counter",
        "Requests received, by service (\"-\" when none matched).",
    ),
    (
        "l402_proxy_challenges_issued_total",
        "counter",
        "402 challenges sent (fresh invoice and token), by service.",
    ),
    ("l402_proxy_invoices_settled_total", "counter", "Invoices of this instance seen settled."),
    ("l402_proxy_revenue_msat_total", "counter", "Millisatoshis received for settled invoices."),
    (
        "l402_proxy_verdicts_total",
        "counter",
        "Authorization verdicts by service and code (\"ok\", \"free\", or the refusal code).",
    ),
    (
        "l402_proxy_uses_total",
        "counter",
        "Paid requests' uses by service, outcome (charged, refunded) and reason (decision 0813).",
    ),
    (
        "l402_proxy_use_retries_total",
        "counter",
        "Uses the store refused to settle at once, retried in the background (decision 0609).",
    ),
    (
        "l402_proxy_upstream_responses_total",
        "counter",
        "Upstream responses by service and status (\"error\" when the upstream failed).",
    ),
    (
        "l402_proxy_upstream_idle_total",
        "counter",
        "Response bodies ended because the upstream sent nothing for idle_ms, by service.",
    ),
    (
        "l402_proxy_upstream_latency_seconds",
        "histogram",
        "Time from forwarding a request to the upstream's response headers.",
    ),
    ("l402_proxy_in_flight_requests", "gauge", "Requests being served right now."),
    ("l402_proxy_connections_open", "gauge", "Client connections open, by listener."),
    (
        "l402_proxy_connections_closed_total",
        "counter",
        "Client connections the proxy closed or refused, by listener and code.",
    ),
    (
        "l402_proxy_listener_full_total",
        "counter",
        "Times a listener was full with every connection busy, by listener.",
    ),
    ("l402_proxy_accept_errors_total", "counter", "Failed accepts, by listener and code."),
    (
        "l402_proxy_request_bodies_refused_total",
        "counter",
        "Request bodies refused (too large, too slow), by service and code.",
    ),
    ("l402_proxy_admin_refused_total", "counter", "Admin API calls refused, by code."),
];

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds `by` to a counter.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: u64) {
        self.counters.with(name, labels, |c| {
            // Saturating: a counter stuck at the top is truer than one that wrapped.
            let _ = c
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_add(by)));
        });
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Sets a gauge-like value (stored with the counters; rendered with its declared type).
    pub fn set(&self, name: &'static str, value: u64) {
        self.set_with(name, &[], value);
    }

    /// Sets a labelled gauge.
    pub fn set_with(&self, name: &'static str, labels: &[(&'static str, &str)], value: u64) {
        self.counters.with(name, labels, |c| c.store(value, Ordering::Relaxed));
    }

    /// The current value of a counter, for tests and the admin API.
    pub fn get(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        self.counters.get(name, labels, |c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Records one observation.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: Duration) {
        let secs = value.as_secs_f64();
        let ns = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.histograms.with(name, labels, |h| {
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                if secs <= *bound {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_ns.fetch_add(ns, Ordering::Relaxed);
        });
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in self.counters.of(name, |_, c| c.load(Ordering::Relaxed)) {
                let _ = writeln!(out, "{name}{} {v}", fmt_labels(&labels, None));
            }
            let histograms = self.histograms.of(name, |_, h| {
                let counts = h.counts.each_ref().map(|c| c.load(Ordering::Relaxed));
                let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
                (counts, h.count.load(Ordering::Relaxed), sum)
            });
            for (labels, (counts, total, sum)) in histograms {
                for (bound, count) in BUCKETS.iter().zip(counts.iter()) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {count}",
                        fmt_labels(&labels, Some(&bound.to_string()))
                    );
                }
                let _ = writeln!(out, "{name}_bucket{} {total}", fmt_labels(&labels, Some("+Inf")));
                let _ = writeln!(out, "{name}_sum{} {sum}", fmt_labels(&labels, None));
                let _ = writeln!(out, "{name}_count{} {total}", fmt_labels(&labels, None));
            }
        }
        out
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.inc("l402_proxy_verdicts_total", &[("service", "a"), ("code", "ok")]);
        m.inc("l402_proxy_verdicts_total", &[("service", "a"), ("code", "ok")]);
        m.observe(
            "l402_proxy_upstream_latency_seconds",
            &[("service", "a\"b")],
            Duration::from_millis(30),
        );
        let text = m.render();
        assert!(
            text.contains("l402_proxy_verdicts_total{service=\"a\",code=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "l402_proxy_upstream_latency_seconds_bucket{service=\"a\\\"b\",le=\"0.025\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "l402_proxy_upstream_latency_seconds_bucket{service=\"a\\\"b\",le=\"0.05\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("l402_proxy_upstream_latency_seconds_count{service=\"a\\\"b\"} 1\n"),
            "{text}"
        );
    }
}
