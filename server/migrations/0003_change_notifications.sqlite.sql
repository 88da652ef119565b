-- SQLite has no notifications: its change watcher polls a trigger-fed counter instead
-- (migration 0006, server/src/changes.rs).
SELECT 1;
