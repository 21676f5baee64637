-- 001_init.sql: schema version 1 of the job runner (RUNNER.md section 4;
-- docs/runner.md says where it departs from it and why). Applied by
-- `harn db migrate` in one transaction under an advisory lock
-- (store/migrate.c), which then records the version in harn.meta.
CREATE SCHEMA IF NOT EXISTS harn;
CREATE TYPE harn.job_state AS ENUM ('scheduled','available','running','succeeded','failed','cancelled');
CREATE TABLE harn.program (             -- content-addressed: sha256 of the source
  sha256 bytea PRIMARY KEY CHECK (length(sha256) = 32),
  name text NOT NULL, source text NOT NULL,
  modules jsonb NOT NULL DEFAULT '{}',  -- imported files: relative path -> source (not yet filled)
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE harn.batch (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now(),
  options jsonb NOT NULL DEFAULT '{}');
CREATE TABLE harn.runner (              -- one row per live `harn runner`; its heartbeat is every job's lease
  id uuid PRIMARY KEY, hostname text NOT NULL, pid integer NOT NULL, version text NOT NULL,
  queues text[] NOT NULL, slots integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz NOT NULL DEFAULT now(),
  lease_ttl interval NOT NULL, draining boolean NOT NULL DEFAULT false);
CREATE TABLE harn.job (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id bigint REFERENCES harn.batch(id),
  key text,                             -- the id `harn batch` gives the job (path, MANIFEST:LINE, ID#2)
  queue text NOT NULL DEFAULT 'default' CHECK (length(queue) BETWEEN 1 AND 128),
  priority smallint NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 9),
  state harn.job_state NOT NULL DEFAULT 'available',
  run_at timestamptz NOT NULL DEFAULT now(),
  program bytea NOT NULL REFERENCES harn.program(sha256),
  input json,                           -- the entry pipeline's parameter, the text as given (json, not jsonb:
                                        -- the program sees the keys in their order)
  options jsonb NOT NULL DEFAULT '{}',  -- file timeout_ms memory cpu_ms retry_on backoff_ms backoff_max_ms
  attempt integer NOT NULL DEFAULT 0,   -- attempts started; the fencing token
  lost_attempts integer NOT NULL DEFAULT 0,   -- free retries used (runner lost, fenced or stopped)
  max_attempts integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
  runner_id uuid,                       -- no FK: runner rows get deleted
  attempted_at timestamptz, deadline_at timestamptz, cancel_requested_at timestamptz,
  unique_key text, tags text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(), finalized_at timestamptz,
  CHECK ((state IN ('succeeded','failed','cancelled')) = (finalized_at IS NOT NULL)),
  CHECK ((state = 'running') = (runner_id IS NOT NULL)))
  WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
CREATE UNIQUE INDEX job_batch_key  ON harn.job (batch_id, key) WHERE batch_id IS NOT NULL;
CREATE UNIQUE INDEX job_unique_key ON harn.job (unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('scheduled','available','running');
CREATE INDEX job_fetch ON harn.job (queue, priority, run_at, id) WHERE state = 'available';
CREATE INDEX job_scheduled ON harn.job (run_at) WHERE state = 'scheduled';
CREATE INDEX job_running ON harn.job (runner_id) WHERE state = 'running';
CREATE INDEX job_finalized ON harn.job (finalized_at) WHERE finalized_at IS NOT NULL;
CREATE INDEX job_batch ON harn.job (batch_id, id);
CREATE TABLE harn.attempt (             -- one terminal record per (job, attempt), by the primary key
  job_id bigint NOT NULL REFERENCES harn.job(id) ON DELETE CASCADE, attempt integer NOT NULL,
  runner_id uuid,
  status text NOT NULL CHECK (status IN ('ok','error','timeout','cancelled','killed','crashed')),
  reason text, started_at timestamptz, ended_at timestamptz NOT NULL DEFAULT now(),
  record json NOT NULL,                 -- the `harn batch --results` line, byte for byte
  PRIMARY KEY (job_id, attempt));
CREATE TABLE harn.late_record (job_id bigint NOT NULL, attempt integer NOT NULL, runner_id uuid,
  received_at timestamptz NOT NULL DEFAULT now(), record json NOT NULL);
CREATE TABLE harn.queue (name text PRIMARY KEY, paused_at timestamptz, max_running integer);
CREATE TABLE harn.schedule (name text PRIMARY KEY, cron text NOT NULL, tz text NOT NULL DEFAULT 'UTC',
  template jsonb NOT NULL, next_run_at timestamptz NOT NULL, paused boolean NOT NULL DEFAULT false);
CREATE TABLE harn.meta (k text PRIMARY KEY, v text NOT NULL);

-- The retry delay: 1 s x 2^(n-1), capped at 10 min, equal jitter (50-100 % of the step).
CREATE FUNCTION harn.backoff(attempt integer, options jsonb) RETURNS interval LANGUAGE sql VOLATILE AS $$
  SELECT make_interval(secs =>
    least(coalesce((options->>'backoff_max_ms')::float8, 600000),
          coalesce((options->>'backoff_ms')::float8, 1000) * power(2, greatest(attempt - 1, 0)))
    * (0.5 + random() / 2) / 1000.0) $$;
-- What a job becomes after an attempt ended with [status]; lost: the attempt
-- ended because its runner died, fenced itself or shut down (a free retry, at most 3).
CREATE FUNCTION harn.next_state(status text, lost boolean, attempt integer, lost_attempts integer,
                                max_attempts integer, options jsonb, cancel_requested boolean)
RETURNS harn.job_state LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN status = 'ok' THEN 'succeeded'::harn.job_state
              WHEN cancel_requested THEN 'cancelled'
              WHEN lost AND lost_attempts < 3 THEN 'available'
              WHEN attempt - lost_attempts < max_attempts
                   AND status = ANY (CASE WHEN options ? 'retry_on'
                     THEN ARRAY(SELECT jsonb_array_elements_text(options->'retry_on'))
                     ELSE ARRAY['crashed','killed'] END) THEN 'scheduled'
              ELSE 'failed' END $$;
-- What an ended attempt does to its job (complete, rescue, shutdown).
CREATE FUNCTION harn.settle(status text, lost boolean, j harn.job, OUT state harn.job_state,
                            OUT run_at timestamptz, OUT finalized_at timestamptz, OUT lost_attempts integer)
LANGUAGE sql VOLATILE AS $$
  SELECT s, CASE WHEN s = 'scheduled' THEN now() + harn.backoff(j.attempt - j.lost_attempts, j.options)
                 ELSE j.run_at END,
         CASE WHEN s IN ('succeeded','failed','cancelled') THEN now() END,
         j.lost_attempts + (s = 'available')::int
  FROM harn.next_state(status, lost, j.attempt, j.lost_attempts, j.max_attempts, j.options,
                       j.cancel_requested_at IS NOT NULL) AS s $$;
-- The record of an attempt whose runner was lost: the line `harn batch
-- --resume` writes for supervisor_lost (supervisor/batch.c recover_journal),
-- with another reason; escaped as sup_json_name (to_json leaves DEL raw);
-- [counters]: the record's all-null counters object, written by the runner
-- (supervisor/runner.c), so that this file does not repeat base/counters.h.
CREATE FUNCTION harn.lost_record(id text, attempt integer, file text, reason text, counters text)
RETURNS json
LANGUAGE sql IMMUTABLE AS $$
  SELECT ('{"id":' || replace(to_json(id)::text, chr(127), '\u007f') || ',"attempt":' || attempt
       || ',"file":' || coalesce(replace(to_json(file)::text, chr(127), '\u007f'), 'null')
       || ',"status":"crashed","reason":' || to_json(reason)::text
       || ',"value":null,"exit_code":1,"error":null,"output":"","output_truncated":false,'
       || '"steps":[],"steps_truncated":false,"lifecycle":[],"lifecycle_truncated":false,'
       || '"emits":[],"emits_truncated":false,"dropped":null,"started_at":null,'
       || '"duration_ms":null,"cpu_ms":null,"max_rss_kb":null,"signals":[],'
       || '"hard_stop":false,"counters":' || counters
       || ',"worker":null,"sandbox":null}')::json $$;
