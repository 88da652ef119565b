//! Prometheus counters for tool calls and token lookups. Hand-written exposition text: seven
//! metric families do not justify a metrics framework and its exporter in the dependency tree.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct ToolStats {
    integration: &'static str,
    calls_by_status: BTreeMap<u16, u64>,
    calls_by_outcome: BTreeMap<&'static str, u64>,
    seconds_sum: f64,
    count: u64,
}

/// Per-tool call counts, upstream statuses and latency, and which path answered MCP POSTs.
#[derive(Clone, Default)]
pub struct Metrics {
    tools: Arc<Mutex<BTreeMap<&'static str, ToolStats>>>,
    answered_directly: Arc<AtomicU64>,
    answered_by_rmcp: Arc<AtomicU64>,
}

impl Metrics {
    /// Records one call; `upstream_status` is 0 when no vendor response arrived.
    pub fn record(
        &self,
        integration: &'static str,
        tool: &'static str,
        upstream_status: u16,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let mut tools = self
            .tools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = tools.entry(tool).or_default();
        stats.integration = integration;
        *stats.calls_by_status.entry(upstream_status).or_default() += 1;
        *stats.calls_by_outcome.entry(outcome).or_default() += 1;
        stats.seconds_sum += elapsed.as_secs_f64();
        stats.count += 1;
    }

    /// Records which path answered one MCP POST: the direct path or rmcp's service.
    pub fn record_answer(&self, directly: bool) {
        let counter = if directly {
            &self.answered_directly
        } else {
            &self.answered_by_rmcp
        };
        counter.fetch_add(1, Ordering::Relaxed);
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
        let _ = writeln!(
            out,
            "# HELP specgate_mcp_posts_total MCP POSTs by the path that answered them.\n# TYPE specgate_mcp_posts_total counter\nspecgate_mcp_posts_total{{path=\"direct\"}} {}\nspecgate_mcp_posts_total{{path=\"rmcp\"}} {}",
            self.answered_directly.load(Ordering::Relaxed),
            self.answered_by_rmcp.load(Ordering::Relaxed)
        );
        out.push_str("# HELP specgate_tool_call_outcomes_total Tool calls by integration, tool and outcome.\n# TYPE specgate_tool_call_outcomes_total counter\n");
        for (tool, stats) in tools.iter() {
            for (outcome, count) in &stats.calls_by_outcome {
                let _ = writeln!(
                    out,
                    "specgate_tool_call_outcomes_total{{integration=\"{}\",tool=\"{tool}\",outcome=\"{outcome}\"}} {count}",
                    stats.integration
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
