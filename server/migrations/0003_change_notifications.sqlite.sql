-- SQLite needs no trigger: the change watcher reads `PRAGMA data_version`, which moves on
-- every commit by another connection (see server/src/changes.rs).
SELECT 1;
