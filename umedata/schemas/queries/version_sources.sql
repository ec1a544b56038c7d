-- Licence and provenance of every source a version draws from (relation version_rows joined with sources).
SELECT r.source AS name, s.layout, s.licence, s.provenance, s.allow_external_teacher, s.root, r.pairs
FROM (SELECT source, count(*) AS pairs FROM version_rows GROUP BY source) r
LEFT JOIN sources s ON s.name = r.source
ORDER BY r.source;
