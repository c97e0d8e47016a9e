-- DeltaShare workflow schema, version 7: an uploader or owner withdraws a waiting version (docs/WORKFLOW.md §4).
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

-- A QUEUED or PENDING_APPROVAL version can be withdrawn; WITHDRAWN is terminal (a worker drops its message).
ALTER TABLE deltashare.pack_version_status DROP CONSTRAINT pack_version_status_status_check;
ALTER TABLE deltashare.pack_version_status ADD CONSTRAINT pack_version_status_status_check
  CHECK (status IN ('RECEIVED', 'VALIDATED', 'PENDING_APPROVAL', 'REJECTED', 'QUEUED', 'IN_PROGRESS', 'COMPLETED',
                    'FAILED', 'SUPERSEDED', 'WITHDRAWN'));

-- Every pair of V0002 stays allowed; QUEUED -> WITHDRAWN and PENDING_APPROVAL -> WITHDRAWN are added.
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
        ('COMPLETED', 'QUEUED'), ('FAILED', 'QUEUED'),
        ('QUEUED', 'WITHDRAWN'), ('PENDING_APPROVAL', 'WITHDRAWN'))
    END $$;
