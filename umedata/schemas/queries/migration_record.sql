-- A migration just applied, with the hash of its text.
INSERT INTO schema_migrations VALUES ($version, sha256($text), now());
