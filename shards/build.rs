//! The build script of every shard crate: generates, into `OUT_DIR`, the vendors that
//! `generated/shard-<n>.txt` lists for this shard, watching only their files and that list.
use std::path::Path;

use specgate_codegen::build_script::{self, Selection};

/// Cargo's variables are read when the script runs, not compiled in: cargo reuses a compiled
/// build script for a checkout at another path, and the paths must be this checkout's.
fn cargo_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

fn main() {
    let package = cargo_var("CARGO_PKG_NAME");
    let Some(shard) = package
        .strip_prefix("specgate-shard-")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        panic!("a shard crate is named specgate-shard-<n>, not {package}");
    };
    let workspace = Path::new(&cargo_var("CARGO_MANIFEST_DIR")).join("../..");
    let out_dir = cargo_var("OUT_DIR");
    if let Err(report) = build_script::run(&workspace, Selection::Shard(shard), Path::new(&out_dir))
    {
        eprint!("{report}");
        std::process::exit(1);
    }
}
