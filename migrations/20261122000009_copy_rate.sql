-- How fast a running copy goes (issue 6): documents per second, smoothed over about 10 s of
-- checkpoints, so the connector's status can show a rate and an ETA. NULL while unknown (no
-- batch yet, or the copy stood still for a minute, e.g. while no worker ran it).
-- `copy_rate_at`: when `copied` last moved (the rate's time base; a checkpoint that moves
-- nothing, such as the first half of a split batch, leaves both alone).
alter table connector_checkpoints add column copy_rate double precision,
    add column copy_rate_at timestamptz;
