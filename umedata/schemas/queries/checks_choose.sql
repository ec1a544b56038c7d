-- Make a checks version the chosen one (validated_annotations applies the version chosen last).
-- Parameters: $checks_version, $now.
UPDATE checks_versions SET chosen_at = $now WHERE checks_version = $checks_version
RETURNING checks_version;
