-- A person whose enrolment photo holds no usable face is imported all the same, flagged
-- (registry/models.py EnrolmentFlag, e.g. no_usable_photo with the face engine's reason); the
-- gate then compares the live face with the ID-card photo alone (docs/gate.md).
ALTER TABLE personnel ADD COLUMN IF NOT EXISTS enrolment_flags jsonb NOT NULL DEFAULT '[]';
