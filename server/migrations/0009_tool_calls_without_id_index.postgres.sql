-- The audit log's ids are unique by construction (a random per-process prefix and a counter,
-- server/src/audit.rs), so the index that enforced it only cost every insert a second lookup.
ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_pkey;
