-- How fast a running copy goes (issue 6): documents per second, smoothed over about 10 s of
-- checkpoints, so the connector's status can show a rate and an ETA. NULL while unknown (no
-- batch yet, or the copy stood still for a minute, e.g. while no worker ran it).
alter table connector_checkpoints add column copy_rate double precision;
