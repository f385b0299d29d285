-- An enrolment photo already analysed (the same bytes, by a face engine with the same settings)
-- is not analysed again (registry/importer.py). A park re-sends its whole registry when anything
-- changes; re-encoding 2,000 unchanged photos (~1 s each at ten reference views) would make every
-- import take half an hour. face_engine: the fingerprint of the settings the encoding or the flag
-- came from (gateway.faces.engine_fingerprint); rows from before have none and are analysed again.
ALTER TABLE personnel
    ADD COLUMN photo_sha256 bytea GENERATED ALWAYS AS (sha256(photo)) STORED,
    ADD COLUMN face_engine text;
CREATE INDEX personnel_photo_sha256 ON personnel (photo_sha256) WHERE face_engine IS NOT NULL;
