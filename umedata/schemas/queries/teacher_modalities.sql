-- The modalities sides have, so a run can pick each one's prompt template (and with it its prompt_version).
SELECT DISTINCT modality FROM sides;
