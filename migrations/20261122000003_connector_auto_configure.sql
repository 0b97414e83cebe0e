-- A connector may enable change stream pre- and post-images itself (collMod) when they are off.
alter table connectors add column auto_configure boolean not null default false;
