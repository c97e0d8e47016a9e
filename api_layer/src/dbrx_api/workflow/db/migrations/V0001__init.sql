-- DeltaShare workflow schema, version 1 (WORKFLOW.md §5).
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

CREATE SCHEMA IF NOT EXISTS deltashare;

-- ------------------------------------------------------------------------------------------- helpers

-- 64-bit advisory lock keys (§5.1). The migration runner writes the same expression out by hand because this
-- function does not exist before the first migration.
CREATE FUNCTION deltashare.lock_key(kind text, k text) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended('deltashare:' || kind || ':' || k, 0) $$;

-- The allowed status transitions of §4.3; NULL stands for "no previous status".
CREATE FUNCTION deltashare.is_allowed_transition(from_status text, to_status text) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
      WHEN from_status IS NULL THEN to_status = 'RECEIVED'
      ELSE (from_status, to_status) IN (
        ('RECEIVED', 'VALIDATED'),
        ('VALIDATED', 'QUEUED'), ('VALIDATED', 'PENDING_APPROVAL'), ('VALIDATED', 'REJECTED'),
        ('QUEUED', 'IN_PROGRESS'),
        ('IN_PROGRESS', 'COMPLETED'), ('IN_PROGRESS', 'FAILED'), ('IN_PROGRESS', 'QUEUED'),
        ('QUEUED', 'FAILED'),
        ('QUEUED', 'SUPERSEDED'), ('PENDING_APPROVAL', 'SUPERSEDED'),
        ('COMPLETED', 'QUEUED'), ('FAILED', 'QUEUED'))
    END $$;

-- Append-only tables (§5.4): every UPDATE or DELETE is refused. SQLSTATE 23001 (restrict_violation).
CREATE FUNCTION deltashare.reject_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'deltashare.%: rows are append-only (% refused)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

-- SCD2 tables (§5.4): the only UPDATE is closing the current row (effective_to and is_current change, nothing
-- else); DELETE is refused.
CREATE FUNCTION deltashare.scd2_guard() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'deltashare.%: SCD2 history rows cannot be deleted', TG_TABLE_NAME
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NOT OLD.is_current OR NEW.is_current
     OR (to_jsonb(NEW) - ARRAY['effective_to', 'is_current'])
        IS DISTINCT FROM (to_jsonb(OLD) - ARRAY['effective_to', 'is_current']) THEN
    RAISE EXCEPTION 'deltashare.%: an SCD2 row can only be closed once (effective_to, is_current)', TG_TABLE_NAME
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

-- provisioning_runs / provisioning_steps (§5.4): inserted once, closed once. TG_ARGV lists the columns the
-- close may set; DELETE is refused.
CREATE FUNCTION deltashare.close_once_guard() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'deltashare.%: rows are append-only (DELETE refused)', TG_TABLE_NAME
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.ended_at IS NOT NULL OR NEW.ended_at IS NULL
     OR (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
    RAISE EXCEPTION 'deltashare.%: a row can only be closed once (ended_at set, closing columns only)',
      TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

-- ------------------------------------------------------------------------------------------- migrations

CREATE TABLE IF NOT EXISTS deltashare.schema_migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  applied_by  text NOT NULL
);

-- ------------------------------------------------------------------------------------------- share_packs (SCD2)

CREATE TABLE deltashare.share_packs (
  record_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  share_pack_id     uuid NOT NULL,
  version           integer NOT NULL CHECK (version >= 1),
  pack_key          text NOT NULL,
  business_line     text NOT NULL,
  project_name      text NOT NULL,
  requestor         text NOT NULL,
  strategy          text NOT NULL CHECK (strategy IN ('NEW', 'UPDATE', 'DELETE')),
  workspace_url     text NOT NULL,
  approver_status   text NOT NULL CHECK (approver_status IN ('approved', 'declined', 'request_more_info', 'pending')),
  servicenow        text NOT NULL,
  config            jsonb NOT NULL,
  warnings          jsonb NOT NULL DEFAULT '[]',
  file_format       text NOT NULL CHECK (file_format IN ('yaml', 'xlsx')),
  file_name         text,
  file_sha256       text NOT NULL,
  file_size         integer NOT NULL,
  requested_by      text NOT NULL,
  requested_by_name text,
  effective_from    timestamptz NOT NULL,
  effective_to      timestamptz NOT NULL DEFAULT 'infinity',
  is_current        boolean NOT NULL,
  is_deleted        boolean NOT NULL DEFAULT false,
  record_hash       text NOT NULL,
  changed_by        text NOT NULL,
  change_reason     text NOT NULL,
  CHECK (effective_from < effective_to),
  CHECK (is_current = (effective_to = 'infinity')),
  UNIQUE (share_pack_id, version)
);
CREATE UNIQUE INDEX share_packs_one_current ON deltashare.share_packs (share_pack_id) WHERE is_current;
CREATE UNIQUE INDEX share_packs_key_current ON deltashare.share_packs (pack_key) WHERE is_current;
CREATE INDEX share_packs_as_of ON deltashare.share_packs (share_pack_id, effective_from);
CREATE INDEX share_packs_requested_by ON deltashare.share_packs (requested_by, effective_from);
CREATE TRIGGER share_packs_scd2_guard BEFORE UPDATE OR DELETE ON deltashare.share_packs
  FOR EACH ROW EXECUTE FUNCTION deltashare.scd2_guard();

-- ------------------------------------------------------------------------------------------- status

CREATE TABLE deltashare.pack_version_status (
  share_pack_id        uuid NOT NULL,
  version              integer NOT NULL,
  status               text NOT NULL CHECK (status IN ('RECEIVED', 'VALIDATED', 'PENDING_APPROVAL', 'REJECTED',
                                  'QUEUED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'SUPERSEDED')),
  status_detail        text,
  error                jsonb,
  updated_at           timestamptz NOT NULL,
  next_visible_at      timestamptz,
  attempts             integer NOT NULL DEFAULT 0,
  lease_owner          text,
  lease_expires_at     timestamptz,
  last_run_id          uuid,
  first_provisioned_at timestamptz,
  PRIMARY KEY (share_pack_id, version),
  FOREIGN KEY (share_pack_id, version) REFERENCES deltashare.share_packs (share_pack_id, version)
);
CREATE INDEX pvs_status ON deltashare.pack_version_status (status, next_visible_at);
CREATE INDEX pvs_lease ON deltashare.pack_version_status (lease_expires_at) WHERE status = 'IN_PROGRESS';
-- The list endpoint pages the current versions by their last status change (API §12.1).
CREATE INDEX pvs_updated ON deltashare.pack_version_status (updated_at DESC, share_pack_id);

-- Only the transitions of §4.3 (I7); a status row is born RECEIVED.
CREATE FUNCTION deltashare.pvs_check_transition() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT deltashare.is_allowed_transition(NULL, NEW.status) THEN
      RAISE EXCEPTION 'forbidden status transition: (none) -> %', NEW.status USING ERRCODE = 'check_violation';
    END IF;
  ELSIF NEW.status IS DISTINCT FROM OLD.status
        AND NOT deltashare.is_allowed_transition(OLD.status, NEW.status) THEN
    RAISE EXCEPTION 'forbidden status transition: % -> %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
  END IF;
  IF TG_OP = 'UPDATE' AND (NEW.share_pack_id, NEW.version) IS DISTINCT FROM (OLD.share_pack_id, OLD.version) THEN
    RAISE EXCEPTION 'pack_version_status: the key of a status row never changes' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pvs_check_transition BEFORE INSERT OR UPDATE ON deltashare.pack_version_status
  FOR EACH ROW EXECUTE FUNCTION deltashare.pvs_check_transition();
CREATE TRIGGER pvs_no_delete BEFORE DELETE ON deltashare.pack_version_status
  FOR EACH ROW EXECUTE FUNCTION deltashare.reject_change();

CREATE TABLE deltashare.status_transitions (
  transition_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  share_pack_id uuid NOT NULL,
  version       integer NOT NULL,
  from_status   text,
  to_status     text NOT NULL,
  at            timestamptz NOT NULL,
  actor         text NOT NULL,
  reason        text,
  run_id        uuid,
  request_id    text,
  CHECK (deltashare.is_allowed_transition(from_status, to_status))
);
CREATE INDEX st_version ON deltashare.status_transitions (share_pack_id, version, transition_id);
CREATE TRIGGER status_transitions_append_only BEFORE UPDATE OR DELETE ON deltashare.status_transitions
  FOR EACH ROW EXECUTE FUNCTION deltashare.reject_change();

-- ------------------------------------------------------------------------------------------- recorded resources (SCD2)

CREATE TABLE deltashare.recipients (
  record_id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_url           text NOT NULL,
  recipient_name          text NOT NULL,
  share_pack_id           uuid,
  created_by_pack         boolean NOT NULL,
  recipient_type          text NOT NULL CHECK (recipient_type IN ('D2D', 'D2O')),
  databricks_recipient_id text,
  global_metastore_id     text,
  description             text,
  ip_access_list          jsonb NOT NULL DEFAULT '[]',
  expiration_time         timestamptz,
  token_rotated_at        timestamptz,
  source_version          integer,
  source_run_id           uuid,
  version                 integer NOT NULL CHECK (version >= 1),
  effective_from          timestamptz NOT NULL,
  effective_to            timestamptz NOT NULL DEFAULT 'infinity',
  is_current              boolean NOT NULL,
  is_deleted              boolean NOT NULL DEFAULT false,
  record_hash             text NOT NULL,
  changed_by              text NOT NULL,
  change_reason           text NOT NULL,
  CHECK (effective_from < effective_to),
  CHECK (is_current = (effective_to = 'infinity')),
  UNIQUE (workspace_url, recipient_name, version)
);
CREATE UNIQUE INDEX recipients_one_current ON deltashare.recipients (workspace_url, recipient_name) WHERE is_current;
CREATE INDEX recipients_as_of ON deltashare.recipients (workspace_url, recipient_name, effective_from);
CREATE INDEX recipients_pack ON deltashare.recipients (share_pack_id) WHERE is_current AND NOT is_deleted;
CREATE TRIGGER recipients_scd2_guard BEFORE UPDATE OR DELETE ON deltashare.recipients
  FOR EACH ROW EXECUTE FUNCTION deltashare.scd2_guard();

CREATE TABLE deltashare.shares (
  record_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_url         text NOT NULL,
  share_name            text NOT NULL,
  share_pack_id         uuid,
  created_by_pack       boolean NOT NULL,
  databricks_created_at timestamptz,
  description           text,
  assets                jsonb NOT NULL DEFAULT '[]',
  recipients            jsonb NOT NULL DEFAULT '[]',
  ext_catalog_name      text,
  ext_schema_name       text,
  tags                  jsonb,
  source_version        integer,
  source_run_id         uuid,
  version               integer NOT NULL CHECK (version >= 1),
  effective_from        timestamptz NOT NULL,
  effective_to          timestamptz NOT NULL DEFAULT 'infinity',
  is_current            boolean NOT NULL,
  is_deleted            boolean NOT NULL DEFAULT false,
  record_hash           text NOT NULL,
  changed_by            text NOT NULL,
  change_reason         text NOT NULL,
  CHECK (effective_from < effective_to),
  CHECK (is_current = (effective_to = 'infinity')),
  UNIQUE (workspace_url, share_name, version)
);
CREATE UNIQUE INDEX shares_one_current ON deltashare.shares (workspace_url, share_name) WHERE is_current;
CREATE INDEX shares_as_of ON deltashare.shares (workspace_url, share_name, effective_from);
CREATE INDEX shares_pack ON deltashare.shares (share_pack_id) WHERE is_current AND NOT is_deleted;
CREATE TRIGGER shares_scd2_guard BEFORE UPDATE OR DELETE ON deltashare.shares
  FOR EACH ROW EXECUTE FUNCTION deltashare.scd2_guard();

CREATE TABLE deltashare.pipelines (
  record_id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_url                text NOT NULL,
  pipeline_key                 text NOT NULL,
  pipeline_name                text NOT NULL,
  share_pack_id                uuid,
  share_name                   text NOT NULL,
  created_by_pack              boolean NOT NULL,
  databricks_pipeline_id       text,
  source_table                 text NOT NULL,
  target_catalog               text NOT NULL,
  target_schema                text NOT NULL,
  target_table                 text NOT NULL,
  scd_type                     text NOT NULL CHECK (scd_type IN ('1', '2', 'full_refresh')),
  key_columns                  jsonb NOT NULL DEFAULT '[]',
  serverless                   boolean NOT NULL,
  continuous                   boolean NOT NULL,
  notifications                jsonb NOT NULL DEFAULT '[]',
  tags                         jsonb NOT NULL DEFAULT '{}',
  library_path                 text NOT NULL,
  schedule_job_id              bigint,
  schedule_job_created_by_pack boolean,
  cron                         text,
  timezone                     text,
  source_version               integer,
  source_run_id                uuid,
  version                      integer NOT NULL CHECK (version >= 1),
  effective_from               timestamptz NOT NULL,
  effective_to                 timestamptz NOT NULL DEFAULT 'infinity',
  is_current                   boolean NOT NULL,
  is_deleted                   boolean NOT NULL DEFAULT false,
  record_hash                  text NOT NULL,
  changed_by                   text NOT NULL,
  change_reason                text NOT NULL,
  CHECK (effective_from < effective_to),
  CHECK (is_current = (effective_to = 'infinity')),
  UNIQUE (workspace_url, pipeline_key, version)
);
CREATE UNIQUE INDEX pipelines_one_current ON deltashare.pipelines (workspace_url, pipeline_key) WHERE is_current;
CREATE INDEX pipelines_as_of ON deltashare.pipelines (workspace_url, pipeline_key, effective_from);
CREATE INDEX pipelines_pack ON deltashare.pipelines (share_pack_id, share_name) WHERE is_current AND NOT is_deleted;
CREATE TRIGGER pipelines_scd2_guard BEFORE UPDATE OR DELETE ON deltashare.pipelines
  FOR EACH ROW EXECUTE FUNCTION deltashare.scd2_guard();

-- ------------------------------------------------------------------------------------------- once-per-version actions

CREATE TABLE deltashare.version_actions (
  share_pack_id uuid NOT NULL,
  version       integer NOT NULL,
  action_key    text NOT NULL,
  intent_at     timestamptz NOT NULL,
  done_at       timestamptz,
  run_id        uuid NOT NULL,
  result        jsonb,
  PRIMARY KEY (share_pack_id, version, action_key)
);

-- ------------------------------------------------------------------------------------------- runs and steps

CREATE TABLE deltashare.provisioning_runs (
  run_id           uuid PRIMARY KEY,
  share_pack_id    uuid NOT NULL,
  version          integer NOT NULL,
  attempt          integer NOT NULL,
  worker_id        text NOT NULL,
  queue_message_id text,
  dequeue_count    integer,
  strategy         text NOT NULL,
  started_at       timestamptz NOT NULL,
  ended_at         timestamptz,
  outcome          text NOT NULL CHECK (outcome IN ('RUNNING', 'COMPLETED', 'FAILED', 'RETRY', 'INTERRUPTED', 'ABANDONED')),
  error_code       text,
  error_message    text,
  read_calls       integer,
  mutating_calls   integer,
  summary          jsonb
);
CREATE INDEX runs_version ON deltashare.provisioning_runs (share_pack_id, version, started_at);
CREATE TRIGGER provisioning_runs_close_once BEFORE UPDATE OR DELETE ON deltashare.provisioning_runs
  FOR EACH ROW EXECUTE FUNCTION deltashare.close_once_guard(
    'ended_at', 'outcome', 'error_code', 'error_message', 'read_calls', 'mutating_calls', 'summary');

CREATE TABLE deltashare.provisioning_steps (
  step_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id         uuid NOT NULL REFERENCES deltashare.provisioning_runs,
  seq            integer NOT NULL,
  step_key       text NOT NULL,
  resource_type  text NOT NULL,
  resource_name  text NOT NULL,
  action         text NOT NULL,
  started_at     timestamptz NOT NULL,
  ended_at       timestamptz,
  outcome        text NOT NULL CHECK (outcome IN ('RUNNING', 'SUCCEEDED', 'NOOP', 'FAILED', 'SKIPPED', 'INTERRUPTED')),
  databricks_ids jsonb,
  detail         jsonb,
  error_code     text,
  error_message  text,
  UNIQUE (run_id, seq, step_key)
);
CREATE INDEX steps_run ON deltashare.provisioning_steps (run_id, seq);
CREATE INDEX steps_intent ON deltashare.provisioning_steps (resource_type, resource_name) WHERE action = 'create';
CREATE TRIGGER provisioning_steps_close_once BEFORE UPDATE OR DELETE ON deltashare.provisioning_steps
  FOR EACH ROW EXECUTE FUNCTION deltashare.close_once_guard(
    'ended_at', 'outcome', 'databricks_ids', 'detail', 'error_code', 'error_message');

-- ------------------------------------------------------------------------------------------- audit and logs

CREATE TABLE deltashare.audit_trail (
  audit_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor_id      text NOT NULL,
  actor_name    text,
  actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'app', 'worker', 'system')),
  source        text NOT NULL CHECK (source IN ('api', 'workflow')),
  action        text NOT NULL,
  entity_type   text NOT NULL,
  entity_key    text NOT NULL,
  workspace_url text,
  share_pack_id uuid,
  version       integer,
  run_id        uuid,
  request_id    text,
  outcome       text NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
  old_values    jsonb,
  new_values    jsonb
);
CREATE INDEX audit_entity ON deltashare.audit_trail (entity_type, entity_key, at);
CREATE INDEX audit_actor ON deltashare.audit_trail (actor_id, at);
CREATE INDEX audit_pack ON deltashare.audit_trail (share_pack_id, at) WHERE share_pack_id IS NOT NULL;
CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON deltashare.audit_trail
  FOR EACH ROW EXECUTE FUNCTION deltashare.reject_change();

CREATE TABLE deltashare.application_logs (
  log_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at                timestamptz NOT NULL,
  level             text NOT NULL,
  logger            text NOT NULL,
  message           text NOT NULL,
  request_id        text,
  principal         text,
  method            text,
  path              text,
  status_code       smallint,
  duration_ms       integer,
  share_pack_id     uuid,
  run_id            uuid,
  exception_type    text,
  exception_message text,
  extra             jsonb
);
CREATE INDEX logs_at ON deltashare.application_logs (at);
CREATE INDEX logs_request ON deltashare.application_logs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX logs_run ON deltashare.application_logs (run_id) WHERE run_id IS NOT NULL;

-- application_logs is append-only except for the retention purge, which sets a transaction-local flag.
CREATE FUNCTION deltashare.application_logs_guard() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('deltashare.log_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'deltashare.application_logs: rows are append-only (% refused)', TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER application_logs_append_only BEFORE UPDATE OR DELETE ON deltashare.application_logs
  FOR EACH ROW EXECUTE FUNCTION deltashare.application_logs_guard();

-- Retention (§5.4): deletes the log rows older than `before` and returns how many went.
CREATE FUNCTION deltashare.purge_application_logs(before timestamptz) RETURNS bigint
  LANGUAGE plpgsql AS $$
DECLARE
  removed bigint;
BEGIN
  PERFORM set_config('deltashare.log_purge', 'on', true);
  DELETE FROM deltashare.application_logs WHERE at < before;
  GET DIAGNOSTICS removed = ROW_COUNT;
  PERFORM set_config('deltashare.log_purge', 'off', true);
  RETURN removed;
END $$;
