-- PostgreSQL needs no counter: its triggers notify `specgate_changes` (migration 0003).
SELECT 1;
