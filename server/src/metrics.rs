//! Prometheus counters for tool calls. Hand-written exposition text: three metric families do
//! not justify a metrics framework and its exporter in the dependency tree.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

#[derive(Default)]
struct ToolStats {
    calls_by_status: BTreeMap<u16, u64>,
    seconds_sum: f64,
    count: u64,
}

/// Per-tool call counts, upstream statuses and latency.
#[derive(Clone, Default)]
pub struct Metrics {
    tools: Arc<Mutex<BTreeMap<&'static str, ToolStats>>>,
}

impl Metrics {
    /// Records one call; `upstream_status` is 0 when no vendor response arrived.
    pub fn record(&self, tool: &'static str, upstream_status: u16, elapsed: Duration) {
        let mut tools = self
            .tools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = tools.entry(tool).or_default();
        *stats.calls_by_status.entry(upstream_status).or_default() += 1;
        stats.seconds_sum += elapsed.as_secs_f64();
        stats.count += 1;
    }

    /// Prometheus text format.
    pub fn to_prometheus(&self) -> String {
        let tools = self
            .tools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::from(
            "# HELP specgate_tool_calls_total Tool calls by upstream HTTP status (0: no response).\n# TYPE specgate_tool_calls_total counter\n",
        );
        for (tool, stats) in tools.iter() {
            for (status, count) in &stats.calls_by_status {
                let _ = writeln!(
                    out,
                    "specgate_tool_calls_total{{tool=\"{tool}\",upstream_status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP specgate_tool_call_seconds Tool call latency.\n# TYPE specgate_tool_call_seconds summary\n");
        for (tool, stats) in tools.iter() {
            let _ = writeln!(
                out,
                "specgate_tool_call_seconds_sum{{tool=\"{tool}\"}} {}",
                stats.seconds_sum
            );
            let _ = writeln!(
                out,
                "specgate_tool_call_seconds_count{{tool=\"{tool}\"}} {}",
                stats.count
            );
        }
        out
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.to_prometheus(),
    )
}
