//! What the build scripts of `specgate-api` and of each shard crate do: generate the Rust of
//! their vendors into `OUT_DIR`, and tell cargo exactly which files to watch.

use std::path::Path;

use crate::shards::ShardMap;

/// The vendors one build script compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The vendor directories the shard map assigns to this shard.
    Shard(usize),
    /// The vendor directories the shard map does not list yet.
    Unsharded,
}

/// Generates the selected vendors of `workspace/specs/` into `out_dir` (`registry.rs` and one
/// file per integration), printing cargo's `rerun-if-changed` lines and the warnings. Files are
/// written only when their contents change. Returns the shard map it read, or the report of
/// errors.
pub fn run(workspace: &Path, selection: Selection, out_dir: &Path) -> Result<ShardMap, String> {
    let specs = workspace.join("specs");
    let generated = workspace.join("generated");
    let lock_path = workspace.join(crate::LOCK_FILE);
    // A shard watches only its own file of the map: adding a vendor elsewhere changes nothing
    // it reads. The registry crate, which compiles what no shard lists, watches all of them.
    let watched: Vec<usize> = match selection {
        Selection::Shard(shard) => vec![shard],
        Selection::Unsharded => (0..crate::SHARD_COUNT).collect(),
    };
    for shard in watched {
        println!(
            "cargo:rerun-if-changed={}",
            generated.join(crate::shards::shard_file(shard)).display()
        );
    }
    let map = ShardMap::read(&generated)?;
    let dirs: Vec<String> = match selection {
        Selection::Shard(shard) => map
            .entries
            .iter()
            .filter(|entry| entry.shard == shard && specs.join(&entry.dir).is_dir())
            .map(|entry| {
                // Aliases from the lock file show in the vendor's mirror file (see `shards`).
                let mirror = workspace
                    .join("generated")
                    .join(format!("{}.rs", entry.integration));
                if mirror.is_file() {
                    println!("cargo:rerun-if-changed={}", mirror.display());
                }
                entry.dir.clone()
            })
            .collect(),
        Selection::Unsharded => {
            // Watching all of `specs/` notices a vendor directory that was just dropped in.
            println!("cargo:rerun-if-changed={}", specs.display());
            // Tools the lock file knows under another name keep that name as an alias.
            println!("cargo:rerun-if-changed={}", lock_path.display());
            let unsharded: Vec<String> = crate::vendor_dirs(&specs)
                .map_err(|e| format!("cannot read {}: {e}", specs.display()))?
                .into_iter()
                .filter(|dir| !map.contains(dir))
                .collect();
            for dir in &unsharded {
                println!(
                    "cargo:warning=specs/{dir} is not in the shard map yet, so it compiles in the registry crate and recompiles on every change to any spec; run `cargo codegen generate` once and it compiles in a shard of its own"
                );
            }
            unsharded
        }
    };
    let mut inputs = Vec::with_capacity(dirs.len());
    for dir in &dirs {
        if let Selection::Shard(_) = selection {
            println!("cargo:rerun-if-changed={}", specs.join(dir).display());
        }
        inputs.push(
            crate::read_vendor_dir(&specs, dir)
                .map_err(|e| format!("cannot read {}: {e}", specs.join(dir).display()))?,
        );
    }
    let previous = crate::read_lock(&lock_path)?;
    let generated = crate::generate_against(&inputs, &previous);
    for diagnostic in &generated.diagnostics {
        if diagnostic.severity == crate::Severity::Warning {
            println!("cargo:warning={}", diagnostic.one_line());
        }
    }
    for problem in generated.portable_lint() {
        println!("cargo:warning=portable schema profile: {problem}");
    }
    if generated.has_errors() {
        return Err(generated.report());
    }
    for (name, contents) in generated.rust_files() {
        let path = out_dir.join(name);
        // Write only on change so unchanged integrations are not recompiled.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(&path, contents)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(map)
}
