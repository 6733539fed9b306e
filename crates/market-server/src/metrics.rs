//! Prometheus metrics: calls, latencies and errors per method.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    /// `ok`, or the error kind / protocol error name.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabel, Histogram>,
    http_requests: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        let latency = Family::<MethodLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let http_requests = Counter::default();
        registry.register(
            "rpc_calls",
            "JSON-RPC calls by method and outcome (each call of a batch counts)",
            calls.clone(),
        );
        registry.register(
            "rpc_call_duration_seconds",
            "Time to answer one JSON-RPC call, by method",
            latency.clone(),
        );
        registry.register(
            "http_rpc_requests",
            "HTTP requests to the JSON-RPC endpoint",
            http_requests.clone(),
        );
        Metrics {
            registry,
            calls,
            latency,
            http_requests,
        }
    }
}

impl Metrics {
    /// Count one call. `method` must be a known method name or a fixed label
    /// (unknown names would let clients grow the label set without bound).
    pub fn observe_call(&self, method: &str, outcome: &str, seconds: f64) {
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .observe(seconds);
    }

    pub fn observe_http(&self) {
        self.http_requests.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
