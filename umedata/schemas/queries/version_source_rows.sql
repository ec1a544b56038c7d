-- The sources table, whole (a few rows): a build joins it to its rows' sources (version_sources.sql) after the
-- warehouse is closed.
SELECT name, layout, licence, provenance, allow_external_teacher, root FROM sources;
