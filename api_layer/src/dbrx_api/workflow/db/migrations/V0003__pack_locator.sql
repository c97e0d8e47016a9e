-- DeltaShare workflow schema, version 3: where each entry of a stored version sits in its uploaded file.
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

-- The canonical `config` is sorted, so run-time issues (live checks, failed steps) need the file's own paths and
-- lines/cells (docs/SHAREPACK.md §13.4): the upload stores its PackLocator here. NULL for versions stored before
-- this migration: the worker then reports canonical paths without a line or cell. Outside `record_hash`: the same
-- content in another order is the same version.
ALTER TABLE deltashare.share_packs ADD COLUMN locator jsonb;
