//! The build script of every shard crate: generates, into `OUT_DIR`, the vendors that
//! `generated/shards.txt` assigns to this shard, watching only their files.
use std::path::Path;

use specgate_codegen::build_script::{self, Selection};

fn main() {
    let package = env!("CARGO_PKG_NAME");
    let Some(shard) = package
        .strip_prefix("specgate-shard-")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        panic!("a shard crate is named specgate-shard-<n>, not {package}");
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    if let Err(report) = build_script::run(&workspace, Selection::Shard(shard), Path::new(&out_dir))
    {
        eprint!("{report}");
        std::process::exit(1);
    }
}
