//! Prometheus metrics, hand-rolled: a few labelled counters and one histogram do not justify
//! a metrics framework (decision 0803). Names are listed in `docs/proxy.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// The proxy's metrics registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent (each update is one
        // insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `by` to a counter.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: u64) {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        let mut inner = self.lock();
        let c = inner.counters.entry(key).or_insert(0);
        *c = c.saturating_add(by);
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Sets a gauge-like value (stored with the counters; rendered with its declared type).
    pub fn set(&self, name: &'static str, value: u64) {
        self.lock().counters.insert((name, Vec::new()), value);
    }

    /// Sets a labelled gauge.
    pub fn set_with(&self, name: &'static str, labels: &[(&'static str, &str)], value: u64) {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        self.lock().counters.insert(key, value);
    }

    /// The current value of a counter, for tests and the admin API.
    pub fn get(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect::<Labels>());
        self.lock().counters.get(&key).copied().unwrap_or(0)
    }

    /// Records one observation.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: Duration) {
        let secs = value.as_secs_f64();
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        let mut inner = self.lock();
        let h = inner.histograms.entry(key).or_default();
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for ((n, labels), v) in inner.counters.iter().filter(|((n, _), _)| *n == name) {
                let _ = writeln!(out, "{n}{} {v}", fmt_labels(labels, None));
            }
            for ((n, labels), h) in inner.histograms.iter().filter(|((n, _), _)| *n == name) {
                for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "{n}_bucket{} {count}",
                        fmt_labels(labels, Some(&bound.to_string()))
                    );
                }
                let _ = writeln!(out, "{n}_bucket{} {}", fmt_labels(labels, Some("+Inf")), h.count);
                let _ = writeln!(out, "{n}_sum{} {}", fmt_labels(labels, None), h.sum);
                let _ = writeln!(out, "{n}_count{} {}", fmt_labels(labels, None), h.count);
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
