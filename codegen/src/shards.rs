//! The shard crates (`shards/<n>/`) that compile the generated code, and the map that tells
//! each one its vendors.
//!
//! Cargo reads the workspace before any build script runs, so the set of crates is fixed:
//! [`SHARD_COUNT`] shards, each with a build script that generates and compiles only the vendor
//! directories the map assigns to it, and watches only their files. A change to one vendor then
//! rebuilds one shard; the others keep their fingerprints. A vendor is assigned by a hash of its
//! directory name, so an assignment never moves when other vendors come or go.
//!
//! The map is part of the reviewed mirror (`generated/shards.txt`) because a build script can
//! only learn about a vendor from files it watches: a shard that watched all of `specs/` would
//! rebuild on every vendor's change. For the same reason a shard does not watch the lock file,
//! which `cargo codegen generate` rewrites for any vendor's change: the lock only adds aliases,
//! which show in the vendor's own mirror file, and the shard watches that. A vendor directory the map does not list yet is compiled by
//! the `specgate-api` crate itself, whose build script watches all of `specs/`, until
//! `cargo codegen generate` assigns it.

use std::path::Path;

use crate::IntegrationIr;

/// How many shard crates the workspace has (`shards/0` to `shards/7`).
pub const SHARD_COUNT: usize = 8;

/// The map's file name inside the mirror directory.
pub const SHARD_MAP_NAME: &str = "shards.txt";

/// The map's path from the workspace root.
pub const SHARD_MAP: &str = "generated/shards.txt";

/// The shard a vendor directory belongs to: FNV-1a of its name, so it depends on that name only.
pub fn shard_of(vendor_dir: &str) -> usize {
    let hash = vendor_dir
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    // The remainder is below SHARD_COUNT, so it fits.
    usize::try_from(hash % SHARD_COUNT as u64).unwrap_or_default()
}

/// One vendor directory and where its code lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardEntry {
    /// Directory under `specs/`.
    pub dir: String,
    /// Its shard crate.
    pub shard: usize,
    /// The integration it defines (its mirror file is `generated/<integration>.rs`).
    pub integration: String,
}

impl ShardEntry {
    /// The integration's Rust module inside its shard crate.
    pub fn module(&self) -> String {
        crate::naming::module_name(&self.integration)
    }
}

/// Every assigned vendor directory, sorted by directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMap {
    /// One entry per vendor directory.
    pub entries: Vec<ShardEntry>,
}

const HEADER: &str = "# Which shard crate (shards/<n>/) compiles each vendor directory of specs/, and the\n# integration it defines. Written by `cargo codegen generate`; do not edit.\n";

impl ShardMap {
    /// The map of the generated integrations (each one's directory is that of its first source).
    pub fn of(integrations: &[IntegrationIr]) -> Self {
        let mut entries: Vec<ShardEntry> = integrations
            .iter()
            .filter_map(|integration| {
                let source = integration.sources.first()?;
                let dir = source.path.split('/').next()?.to_owned();
                Some(ShardEntry {
                    shard: shard_of(&dir),
                    integration: integration.name.clone(),
                    dir,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.dir.cmp(&b.dir));
        Self { entries }
    }

    /// Parses the map file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [dir, shard, integration] = fields[..] else {
                return Err(format!(
                    "line {}: expected `<vendor directory> <shard> <integration>`, found `{line}`",
                    index + 1
                ));
            };
            let shard = shard
                .parse::<usize>()
                .ok()
                .filter(|shard| *shard < SHARD_COUNT)
                .ok_or_else(|| {
                    format!(
                        "line {}: shard `{shard}` is not a number below {SHARD_COUNT}",
                        index + 1
                    )
                })?;
            entries.push(ShardEntry {
                dir: dir.to_owned(),
                shard,
                integration: integration.to_owned(),
            });
        }
        Ok(Self { entries })
    }

    /// Reads the map file; a missing one assigns nothing (every vendor is unsharded).
    pub fn read(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The map file's text.
    pub fn to_text(&self) -> String {
        let mut text = HEADER.to_owned();
        for entry in &self.entries {
            text.push_str(&format!(
                "{} {} {}\n",
                entry.dir, entry.shard, entry.integration
            ));
        }
        text
    }

    /// Whether the map assigns `dir` to a shard.
    pub fn contains(&self, dir: &str) -> bool {
        self.entries.iter().any(|entry| entry.dir == dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_stay_in_range_and_never_move() {
        for name in ["malomo", "edesk", "roserocket", "graph", "a", ""] {
            assert!(shard_of(name) < SHARD_COUNT);
        }
        // Pinned: a change of hash would move every vendor and rebuild everything.
        assert_eq!(shard_of("malomo"), 2);
        assert_eq!(shard_of("graph"), 7);
    }

    #[test]
    fn the_map_round_trips_and_bad_lines_are_named() {
        let map = ShardMap {
            entries: vec![ShardEntry {
                dir: "edesk".to_owned(),
                shard: 1,
                integration: "e_desk".to_owned(),
            }],
        };
        assert_eq!(ShardMap::parse(&map.to_text()).unwrap(), map);
        assert_eq!(
            ShardMap::parse("edesk 1\n").unwrap_err(),
            "line 1: expected `<vendor directory> <shard> <integration>`, found `edesk 1`"
        );
        assert_eq!(
            ShardMap::parse("# c\nedesk 9 e_desk\n").unwrap_err(),
            "line 2: shard `9` is not a number below 8"
        );
    }
}
