-- Loads from the ingest log carry a deduplication token: a load repeated after a crash (between
-- the insert and the deletion of its log segment) stores nothing twice.  These windows are how
-- many recent insert tokens each table remembers.
ALTER TABLE {db}.spans MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {db}.model_minutes MODIFY SETTING non_replicated_deduplication_window = 1000;
