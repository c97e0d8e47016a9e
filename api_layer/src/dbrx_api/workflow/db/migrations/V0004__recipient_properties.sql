-- DeltaShare workflow schema, version 4: the custom properties a pack manages on a recipient (docs/WORKFLOW.md §5.3).
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

-- The whole custom map the recording pack version declared (`{}`: managed and empty). NULL when the version did not
-- manage properties, and for rows recorded before this migration: their `record_hash` leaves NULL columns out, so
-- it stays valid and an unchanged recipient writes no new version.
ALTER TABLE deltashare.recipients ADD COLUMN properties jsonb;
