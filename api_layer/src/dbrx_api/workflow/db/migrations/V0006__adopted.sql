-- DeltaShare workflow schema, version 6: the adopted marker of recorded resources (docs/WORKFLOW.md §5.3, §9.8).
-- Forward-only: once applied anywhere this file is never edited (the runner verifies its checksum).

-- true: the recording pack adopted a live object it did not create (e.g. from an export, docs/WORKFLOW.md §15): the
-- pack's DELETE leaves it in place unless that DELETE version says `destroy_adopted: true`. NULL: created by the
-- pack, or recorded before this migration (then `created_by_pack = false` says the same); `record_hash` leaves
-- NULL columns out, so existing rows stay valid and an unchanged resource writes no new version.
ALTER TABLE deltashare.recipients ADD COLUMN adopted boolean;
ALTER TABLE deltashare.shares ADD COLUMN adopted boolean;
ALTER TABLE deltashare.pipelines ADD COLUMN adopted boolean;
