//! The compiled tool registry: one typed request struct and one tool definition per documented
//! vendor operation in `specs/`. The generated code lives in the shard crates (`shards/<n>/`),
//! each built by its own build script; this crate gathers them. The reviewed mirror of that
//! output sits next to this file (`generated/*.rs`); a test keeps it byte-identical.
#![allow(missing_docs, reason = "doc comments come from vendor specs")]

use std::sync::OnceLock;

pub use specgate_runtime as runtime;

// Each sharded integration's module, as `specgate_api::<module>`.
include!(concat!(env!("OUT_DIR"), "/sharded.rs"));

/// Vendor directories the shard map does not list yet, compiled here until
/// `cargo codegen generate` assigns them a shard.
pub mod unsharded {
    include!(concat!(env!("OUT_DIR"), "/registry.rs"));
}

/// Every compiled integration, sorted by name.
pub fn integrations() -> &'static [&'static runtime::Integration] {
    static ALL: OnceLock<Vec<&'static runtime::Integration>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = [
            specgate_shard_0::INTEGRATIONS,
            specgate_shard_1::INTEGRATIONS,
            specgate_shard_2::INTEGRATIONS,
            specgate_shard_3::INTEGRATIONS,
            specgate_shard_4::INTEGRATIONS,
            specgate_shard_5::INTEGRATIONS,
            specgate_shard_6::INTEGRATIONS,
            specgate_shard_7::INTEGRATIONS,
            unsharded::INTEGRATIONS,
        ]
        .concat();
        all.sort_by_key(|integration| integration.name);
        all
    })
}

/// Finds a compiled tool by name.
pub fn find_tool(name: &str) -> Option<&'static runtime::ToolDef> {
    integrations()
        .iter()
        .flat_map(|integration| integration.tools.iter())
        .find(|tool| tool.name == name)
}

/// Finds a compiled integration by name.
pub fn find_integration(name: &str) -> Option<&'static runtime::Integration> {
    integrations()
        .iter()
        .copied()
        .find(|integration| integration.name == name)
}
