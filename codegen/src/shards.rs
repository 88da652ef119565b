//! The shard crates (`shards/<n>/`) that compile the generated code, and the map that tells
//! each one its vendors.
//!
//! Cargo reads the workspace before any build script runs, so the set of crates is fixed:
//! [`SHARD_COUNT`] shards, each with a build script that generates and compiles only the vendor
//! directories the map assigns to it, and watches only their files. A change to one vendor then
//! rebuilds one shard; the others keep their fingerprints.
//!
//! [`ShardMap::assign`] keeps every assignment the previous map made, so a vendor never moves
//! when others come or go. A new vendor goes to the shard a hash of its directory name picks,
//! unless a large vendor ([`LARGE_VENDOR_TOOLS`]) is there: a small vendor that shared a shard
//! with Microsoft Graph would recompile Graph on every edit. A new large vendor takes the least
//! loaded shard, an empty one while any is left.
//!
//! The map is part of the reviewed mirror, one file per shard (`generated/shard-<n>.txt`),
//! because a build script can only learn about a vendor from files it watches: a shard that
//! watched all of `specs/` would rebuild on every vendor's change, and one that watched the
//! whole map would rebuild when any vendor is added. For the same reason a shard does not watch the lock file,
//! which `cargo codegen generate` rewrites for any vendor's change: the lock only adds aliases,
//! which show in the vendor's own mirror file, and the shard watches that. A vendor directory
//! the map does not list yet is compiled by the `specgate-api` crate itself, whose build script
//! watches all of `specs/`, until `cargo codegen generate` assigns it.

use std::path::Path;

use crate::IntegrationIr;

/// How many shard crates the workspace has (`shards/0` to `shards/7`).
pub const SHARD_COUNT: usize = 8;

/// The file inside the mirror directory (`generated/`) that lists shard `shard`'s vendors.
pub fn shard_file(shard: usize) -> String {
    format!("shard-{shard}.txt")
}

/// A vendor with at least this many tools is large: it gets a shard no small vendor joins. At
/// about 500 tools a shard's rebuild passes ten seconds on two cores.
pub const LARGE_VENDOR_TOOLS: usize = 500;

/// The shard a hash of a vendor directory's name picks: FNV-1a of its name, so it depends on that name only.
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

/// What the map needs to know of an integration to place it.
struct Vendor {
    dir: String,
    integration: String,
    tools: usize,
}

/// Every assigned vendor directory, sorted by directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMap {
    /// One entry per vendor directory.
    pub entries: Vec<ShardEntry>,
}

impl ShardMap {
    /// The map of the generated integrations (each one's directory is that of its first
    /// source): `previous`'s assignments stay, new vendors are placed as the module says.
    pub fn assign(integrations: &[IntegrationIr], previous: &ShardMap) -> Self {
        let vendors = integrations.iter().filter_map(|integration| {
            let source = integration.sources.first()?;
            Some(Vendor {
                dir: source.path.split('/').next()?.to_owned(),
                integration: integration.name.clone(),
                tools: integration.tools.len(),
            })
        });
        Self::place(vendors, previous)
    }

    fn place(vendors: impl Iterator<Item = Vendor>, previous: &ShardMap) -> Self {
        let mut load = [0_usize; SHARD_COUNT];
        let mut holds_large = [false; SHARD_COUNT];
        let mut entries = Vec::new();
        let mut new = Vec::new();
        for vendor in vendors {
            match previous
                .entries
                .iter()
                .find(|entry| entry.dir == vendor.dir)
            {
                Some(kept) => {
                    load[kept.shard] += vendor.tools;
                    holds_large[kept.shard] |= vendor.tools >= LARGE_VENDOR_TOOLS;
                    entries.push(ShardEntry {
                        dir: vendor.dir,
                        shard: kept.shard,
                        integration: vendor.integration,
                    });
                }
                None => new.push(vendor),
            }
        }
        // Large vendors first, so a small one placed in the same run steers clear of them.
        new.sort_by(|a, b| {
            (b.tools >= LARGE_VENDOR_TOOLS)
                .cmp(&(a.tools >= LARGE_VENDOR_TOOLS))
                .then_with(|| a.dir.cmp(&b.dir))
        });
        let least_loaded = |load: &[usize; SHARD_COUNT], allowed: &dyn Fn(usize) -> bool| {
            (0..SHARD_COUNT)
                .filter(|&shard| allowed(shard))
                .min_by_key(|&shard| (load[shard], shard))
        };
        for vendor in new {
            let large = vendor.tools >= LARGE_VENDOR_TOOLS;
            let hashed = shard_of(&vendor.dir);
            let shard = if large {
                least_loaded(&load, &|_| true).unwrap_or(hashed)
            } else if holds_large[hashed] {
                least_loaded(&load, &|shard| !holds_large[shard]).unwrap_or(hashed)
            } else {
                hashed
            };
            load[shard] += vendor.tools;
            holds_large[shard] |= large;
            entries.push(ShardEntry {
                dir: vendor.dir,
                shard,
                integration: vendor.integration,
            });
        }
        entries.sort_by(|a, b| a.dir.cmp(&b.dir));
        Self { entries }
    }

    /// Parses shard `shard`'s file.
    fn parse_shard(shard: usize, text: &str, into: &mut Vec<ShardEntry>) -> Result<(), String> {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [dir, integration] = fields[..] else {
                return Err(format!(
                    "line {}: expected `<vendor directory> <integration>`, found `{line}`",
                    index + 1
                ));
            };
            into.push(ShardEntry {
                dir: dir.to_owned(),
                shard,
                integration: integration.to_owned(),
            });
        }
        Ok(())
    }

    /// Reads the shard files of the mirror directory `generated`; a missing file assigns
    /// nothing to its shard.
    pub fn read(generated: &Path) -> Result<Self, String> {
        let mut entries = Vec::new();
        for shard in 0..SHARD_COUNT {
            let path = generated.join(shard_file(shard));
            match std::fs::read_to_string(&path) {
                Ok(text) => Self::parse_shard(shard, &text, &mut entries)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        entries.sort_by(|a, b| a.dir.cmp(&b.dir));
        Ok(Self { entries })
    }

    /// Every shard's file, `(file name, text)`, empty shards included: a build script watching
    /// a file that does not exist would rerun on every build.
    pub fn files(&self) -> Vec<(String, String)> {
        (0..SHARD_COUNT)
            .map(|shard| {
                let mut text = format!(
                    "# The vendor directories of specs/ that shards/{shard}/ compiles, and the integration\n# each defines. Written by `cargo codegen generate`; do not edit.\n"
                );
                for entry in self.entries.iter().filter(|entry| entry.shard == shard) {
                    text.push_str(&format!("{} {}\n", entry.dir, entry.integration));
                }
                (shard_file(shard), text)
            })
            .collect()
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

    fn vendor(dir: &str, tools: usize) -> Vendor {
        Vendor {
            dir: dir.to_owned(),
            integration: dir.to_owned(),
            tools,
        }
    }

    fn shards(map: &ShardMap) -> Vec<(&str, usize)> {
        map.entries
            .iter()
            .map(|entry| (entry.dir.as_str(), entry.shard))
            .collect()
    }

    #[test]
    fn a_large_vendor_gets_a_shard_no_small_vendor_shares() {
        let seeds = [
            vendor("edesk", 40),
            vendor("malomo", 30),
            vendor("roserocket", 60),
        ];
        let seeded = ShardMap::place(seeds.into_iter(), &ShardMap::default());
        assert_eq!(
            shards(&seeded),
            [("edesk", 1), ("malomo", 2), ("roserocket", 6)]
        );
        // `vendor2` hashes where `msgraph` does; Graph takes the first empty shard instead.
        assert_eq!(shard_of("msgraph"), shard_of("vendor2"));
        let with_graph = ShardMap::place(
            [
                vendor("edesk", 40),
                vendor("malomo", 30),
                vendor("msgraph", 11_422),
                vendor("roserocket", 60),
            ]
            .into_iter(),
            &seeded,
        );
        assert_eq!(
            shards(&with_graph),
            [
                ("edesk", 1),
                ("malomo", 2),
                ("msgraph", 0),
                ("roserocket", 6)
            ]
        );
        // A small vendor whose hash picks Graph's shard goes to the least loaded other one (the
        // seed vendors are gone from this run, so shard 1 is empty).
        let zero = (0..)
            .map(|n| format!("v{n}"))
            .find(|dir| shard_of(dir) == 0)
            .unwrap();
        let with_small = ShardMap::place(
            [
                vendor("msgraph", 11_422),
                vendor(&zero, 5),
                vendor("vendor2", 5),
            ]
            .into_iter(),
            &with_graph,
        );
        assert_eq!(
            shards(&with_small),
            [
                ("msgraph", 0),
                (zero.as_str(), 1),
                ("vendor2", shard_of("vendor2"))
            ]
        );
        // Assignments never move, also when the vendors that shaped them are gone.
        assert_eq!(
            ShardMap::place([vendor(&zero, 5)].into_iter(), &with_small).entries[0].shard,
            1
        );
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
        let dir = tempfile::tempdir().unwrap();
        let files = map.files();
        assert_eq!(files.len(), SHARD_COUNT);
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        assert_eq!(ShardMap::read(dir.path()).unwrap(), map);
        std::fs::write(dir.path().join(shard_file(2)), "# c\nedesk 1 e_desk\n").unwrap();
        assert_eq!(
            ShardMap::read(dir.path()).unwrap_err(),
            format!(
                "{}: line 2: expected `<vendor directory> <integration>`, found `edesk 1 e_desk`",
                dir.path().join("shard-2.txt").display()
            )
        );
    }
}
