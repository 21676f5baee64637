-- 002: records carry "stdout" and "stderr" beside "output" (issue #18,
-- docs/cli.md "The terminal record"): the lost-attempt record that the
-- runner writes (harn.lost_record) stays byte for byte the line that
-- supervisor/batch.c writes for a supervisor_lost attempt.
CREATE OR REPLACE FUNCTION harn.lost_record(id text, attempt integer, file text, reason text, counters text)
RETURNS json
LANGUAGE sql IMMUTABLE AS $$
  SELECT ('{"id":' || replace(to_json(id)::text, chr(127), '\u007f') || ',"attempt":' || attempt
       || ',"file":' || coalesce(replace(to_json(file)::text, chr(127), '\u007f'), 'null')
       || ',"status":"crashed","reason":' || to_json(reason)::text
       || ',"value":null,"exit_code":1,"error":null,"output":"","stdout":"","stderr":"",'
       || '"output_truncated":false,'
       || '"steps":[],"steps_truncated":false,"lifecycle":[],"lifecycle_truncated":false,'
       || '"emits":[],"emits_truncated":false,"dropped":null,"started_at":null,'
       || '"duration_ms":null,"cpu_ms":null,"max_rss_kb":null,"signals":[],'
       || '"hard_stop":false,"counters":' || counters
       || ',"worker":null,"sandbox":null}')::json $$;
