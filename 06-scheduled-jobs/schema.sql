-- Jobs to publish at their time. Applied by enqueue and publisher when the table is missing.
CREATE TABLE IF NOT EXISTS jobs (
  id           bigserial   PRIMARY KEY,
  topic        text        NOT NULL,
  payload      text        NOT NULL,
  fire_at      timestamptz NOT NULL,
  processed    boolean     NOT NULL DEFAULT false,
  processed_at timestamptz,
  -- Which publisher instance sent it: useful when several run side by side.
  published_by text,
  -- Why the MQTT broker refused it (its reason code), when it did: the job is set aside, not retried.
  failure      text
);
-- A table made by an earlier version of the lesson gets the new column too.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS failure text;

-- Only unprocessed rows are in this index, in fire-time order: "due and unprocessed, oldest first"
-- stays a short index range scan however many processed rows pile up behind it.
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (fire_at) WHERE NOT processed;
