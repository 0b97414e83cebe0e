-- A copy's rate is measured over windows of at least a second (issue 6): copy batches are
-- applied two at a time and commit close together, so the time between two checkpoints says
-- little. `copy_rate_copied` is `copied` at the window's start (`copy_rate_at`); a checkpoint
-- closes the window once a second has passed, folding its rate into `copy_rate` (smoothed over
-- about 10 s), and opens the next. NULL where unknown (then the last saved `copied` counts).
alter table connector_checkpoints add column copy_rate_copied bigint;
