//! Prometheus metrics: calls, latencies and errors per method, and what
//! the store's batched writes did.

use std::sync::Arc;

use market_store::WriteStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
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

/// Reads the store's write figures.
type StatsSource = Arc<dyn Fn() -> WriteStats + Send + Sync>;

/// The store's batched writes, read at each scrape.
struct StoreWrites(StatsSource);

impl std::fmt::Debug for StoreWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreWrites")
    }
}

impl Collector for StoreWrites {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let stats = (self.0)();
        for (name, help, value) in [
            ("store_writes", "Writes committed in batches", stats.writes),
            (
                "store_batches",
                "Durable commits, each covering a batch of writes",
                stats.batches,
            ),
            (
                "store_checkpoints",
                "Of the durable commits, those the storage engine made durable itself, not in its redo log",
                stats.checkpoints,
            ),
            (
                "store_rows_written",
                "Table entries the batched writes put or deleted",
                stats.rows,
            ),
        ] {
            encode_counter(&mut encoder, name, help, value)?;
        }
        let stages = stats.stages;
        for (stage, help, time) in [
            (
                "calls",
                "Time the bodies of batched writes ran, one at a time",
                stages.calls,
            ),
            (
                "commits",
                "Time leaders spent committing batches, one at a time",
                stages.commits,
            ),
            (
                "engine",
                "Of the commits, time in the storage engine (rows put, redo log synced or checkpoint)",
                stages.engine,
            ),
        ] {
            let name = format!("store_write_{stage}");
            encode_counter(
                &mut encoder,
                &format!("{name}_busy_seconds"),
                help,
                time.busy.as_secs_f64(),
            )?;
            encode_counter(
                &mut encoder,
                &format!("{name}_cpu_seconds"),
                &format!("{help}: of it, time on a processor"),
                time.cpu.as_secs_f64(),
            )?;
        }
        let queued = ConstGauge::new(i64::try_from(stats.queued).unwrap_or(i64::MAX));
        queued.encode(encoder.encode_descriptor(
            "store_writes_queued",
            "Writes waiting for the open batch",
            None,
            queued.metric_type(),
        )?)
    }
}

/// One counter's descriptor and value.
fn encode_counter<N: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> std::fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// The registry, with the store's write figures when `write_stats` reads them.
    pub fn new(write_stats: Option<StatsSource>) -> Self {
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
        if let Some(stats) = write_stats {
            registry.register_collector(Box::new(StoreWrites(stats)));
        }
        Metrics {
            registry,
            calls,
            latency,
            http_requests,
        }
    }

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
