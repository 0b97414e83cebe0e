-- A collection's first copy (a new connector, or a collection added to one) does not sweep
-- (issue 6): edge documents it did not see were never MongoDB's (devices created them while the
-- collection was not synced), so they are kept and queued for the write-back instead of deleted.
-- Only a later copy (resync, history lost, a new mapping) sweeps.
alter table connector_checkpoints add column copy_fresh boolean not null default false;
