-- Jobs to publish at their time. Applied idempotently (under an advisory lock) by enqueue and publisher.
CREATE TABLE IF NOT EXISTS jobs (
  id           bigserial   PRIMARY KEY,
  topic        text        NOT NULL,
  payload      text        NOT NULL,
  fire_at      timestamptz NOT NULL,
  processed    boolean     NOT NULL DEFAULT false,
  processed_at timestamptz,
  -- Which publisher instance sent it: useful when several run side by side.
  published_by text
);

-- Only unprocessed rows are in this index, in fire-time order: "due and unprocessed, oldest first"
-- stays a short index range scan however many processed rows pile up behind it.
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (fire_at) WHERE NOT processed;
