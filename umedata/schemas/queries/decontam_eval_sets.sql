-- The registered eval sets a decontamination compared against (their content ids say which version of each).
SELECT name, content_id FROM eval_sets ORDER BY name;
