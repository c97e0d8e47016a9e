-- DeltaShare workflow schema, version 5: standing token rotation policies and their sweep (docs/WORKFLOW.md §5.3, §9.6).
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

-- The rotation policy the recording pack version declared for a D2O recipient ({"rotate_before_expiry_days": N,
-- "grace_hours": H}). NULL without a policy, and for rows recorded before this migration: their `record_hash` leaves
-- NULL columns out, so it stays valid and an unchanged recipient writes no new version.
ALTER TABLE deltashare.recipients ADD COLUMN token_rotation_policy jsonb;

-- One claim per token the sweep rotates: taken (committed) before `recipients.rotate_token`, marked done after, so a
-- token is rotated once whatever the number of workers. `claimed_at` is the first claim (a token created at or after
-- it means the rotation happened); `lease_expires_at` lets another worker take over the claim of a crashed one.
CREATE TABLE deltashare.token_rotation_claims (
  workspace_url     text NOT NULL,
  recipient_name    text NOT NULL,
  token_id          text NOT NULL,
  share_pack_id     uuid,
  token_expires_at  timestamptz,
  claimed_at        timestamptz NOT NULL,
  claimed_by        text NOT NULL,
  lease_expires_at  timestamptz NOT NULL,
  attempts          integer NOT NULL DEFAULT 1,
  done_at           timestamptz,
  result            jsonb,
  PRIMARY KEY (workspace_url, recipient_name, token_id)
);
CREATE INDEX token_rotation_claims_open ON deltashare.token_rotation_claims (lease_expires_at) WHERE done_at IS NULL;
