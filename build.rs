//! Generates, into `OUT_DIR`, the vendors of `specs/` that the shard map does not assign yet
//! (usually none: each shard crate compiles its own), and the re-exports of the sharded
//! integrations' modules.
use std::fmt::Write;
use std::path::Path;

use specgate_codegen::build_script::{self, Selection};

fn main() {
    // Read when the script runs, not compiled in: cargo reuses a compiled build script for a
    // checkout at another path, and the paths must be this checkout's.
    let workspace = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace = Path::new(&workspace);
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out_dir = Path::new(&out_dir);
    let map = match build_script::run(workspace, Selection::Unsharded, out_dir) {
        Ok(map) => map,
        Err(report) => {
            eprint!("{report}");
            std::process::exit(1);
        }
    };
    let mut exports = String::new();
    for entry in &map.entries {
        if workspace.join("specs").join(&entry.dir).is_dir() {
            let _ = writeln!(
                exports,
                "pub use specgate_shard_{}::{};",
                entry.shard,
                entry.module()
            );
        }
    }
    let path = out_dir.join("sharded.rs");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(exports.as_str()) {
        std::fs::write(&path, exports).expect("OUT_DIR is writable");
    }
}
