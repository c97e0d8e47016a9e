-- DeltaShare workflow schema, version 2: approvals, pack owners (docs/GOVERNANCE.md).
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

-- A version the worker holds for an approver goes IN_PROGRESS -> PENDING_APPROVAL; an approver's decision moves
-- PENDING_APPROVAL -> QUEUED (approve) or REJECTED (decline). Every earlier pair stays allowed.
CREATE OR REPLACE FUNCTION deltashare.is_allowed_transition(from_status text, to_status text) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
      WHEN from_status IS NULL THEN to_status = 'RECEIVED'
      ELSE (from_status, to_status) IN (
        ('RECEIVED', 'VALIDATED'),
        ('VALIDATED', 'QUEUED'), ('VALIDATED', 'PENDING_APPROVAL'), ('VALIDATED', 'REJECTED'),
        ('QUEUED', 'IN_PROGRESS'),
        ('IN_PROGRESS', 'COMPLETED'), ('IN_PROGRESS', 'FAILED'), ('IN_PROGRESS', 'QUEUED'),
        ('IN_PROGRESS', 'PENDING_APPROVAL'),
        ('QUEUED', 'FAILED'),
        ('QUEUED', 'SUPERSEDED'), ('PENDING_APPROVAL', 'SUPERSEDED'),
        ('PENDING_APPROVAL', 'QUEUED'), ('PENDING_APPROVAL', 'REJECTED'),
        ('COMPLETED', 'QUEUED'), ('FAILED', 'QUEUED'))
    END $$;

-- The roles the uploader held when storing the version: a writer's destructive version always needs an approver.
ALTER TABLE deltashare.share_packs ADD COLUMN requested_by_roles text[] NOT NULL DEFAULT '{}';

-- The plan the worker computed when it held the version for approval: what the approver is shown and binds to.
ALTER TABLE deltashare.pack_version_status ADD COLUMN approval_plan jsonb;

ALTER TABLE deltashare.provisioning_runs DROP CONSTRAINT provisioning_runs_outcome_check;
ALTER TABLE deltashare.provisioning_runs ADD CONSTRAINT provisioning_runs_outcome_check
  CHECK (outcome IN ('RUNNING', 'COMPLETED', 'FAILED', 'RETRY', 'INTERRUPTED', 'ABANDONED', 'AWAITING_APPROVAL'));

-- ------------------------------------------------------------------------------------------- approvals

CREATE TABLE deltashare.version_approvals (
  approval_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  share_pack_id     uuid NOT NULL,
  version           integer NOT NULL,
  decision          text NOT NULL CHECK (decision IN ('approve', 'decline')),
  approver_id       text NOT NULL,
  approver_name     text,
  comment           text,
  record_hash       text NOT NULL,
  -- Digest of the plan shown to the approver, and its destructive changes: the run may do less, never more.
  plan_digest       text,
  approved_changes  jsonb NOT NULL DEFAULT '[]',
  decided_at        timestamptz NOT NULL,
  request_id        text,
  FOREIGN KEY (share_pack_id, version) REFERENCES deltashare.share_packs (share_pack_id, version)
);
CREATE INDEX version_approvals_version ON deltashare.version_approvals (share_pack_id, version, approval_id);
CREATE TRIGGER version_approvals_append_only BEFORE UPDATE OR DELETE ON deltashare.version_approvals
  FOR EACH ROW EXECUTE FUNCTION deltashare.reject_change();

-- ------------------------------------------------------------------------------------------- owners

CREATE TABLE deltashare.share_pack_owners (
  share_pack_id  uuid NOT NULL,
  principal_id   text NOT NULL,
  principal_name text,
  added_by       text NOT NULL,
  added_at       timestamptz NOT NULL,
  PRIMARY KEY (share_pack_id, principal_id)
);

-- Every change of a pack's owners, for its history.
CREATE TABLE deltashare.share_pack_owner_changes (
  change_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  share_pack_id  uuid NOT NULL,
  principal_id   text NOT NULL,
  principal_name text,
  change         text NOT NULL CHECK (change IN ('added', 'removed')),
  actor          text NOT NULL,
  at             timestamptz NOT NULL,
  request_id     text
);
CREATE INDEX share_pack_owner_changes_pack ON deltashare.share_pack_owner_changes (share_pack_id, change_id);
CREATE TRIGGER share_pack_owner_changes_append_only BEFORE UPDATE OR DELETE ON deltashare.share_pack_owner_changes
  FOR EACH ROW EXECUTE FUNCTION deltashare.reject_change();

-- Packs stored before owners existed: the uploader of version 1 owns the pack.
INSERT INTO deltashare.share_pack_owners (share_pack_id, principal_id, principal_name, added_by, added_at)
  SELECT share_pack_id, requested_by, requested_by_name, 'migration:V0002', effective_from
  FROM deltashare.share_packs WHERE version = 1;
INSERT INTO deltashare.share_pack_owner_changes (share_pack_id, principal_id, principal_name, change, actor, at)
  SELECT share_pack_id, requested_by, requested_by_name, 'added', 'migration:V0002', effective_from
  FROM deltashare.share_packs WHERE version = 1;
