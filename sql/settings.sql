--
-- settings: every ame.* setting is defined by the library, and the prefix
-- is reserved, so a misspelled name is an error instead of a silent
-- placeholder (SPEC §5, docs/install.md)
--
\set VERBOSITY terse

-- the extension is installed, so its library is loaded by any call
SELECT ame_current_user_id() IS NULL AS loaded;

-- the settings it defines
SELECT name, setting, context, vartype
FROM pg_settings WHERE name LIKE 'ame.%' ORDER BY name;

-- a misspelled name: an error, and nothing is set
SET ame.audit_contxt = '{"ticket": 1}';
\echo :LAST_ERROR_SQLSTATE
SET ame.import_max_fieldsize = 100;
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('ame.typo', '1', false);
SHOW ame.audit_contxt;
SELECT current_setting('ame.typo', true) IS NULL AS typo_unset;

-- the real ones are set as before
SET ame.audit_context = '{"ticket": 1}';
SHOW ame.audit_context;
SET ame.import_max_field_size = 2048;
SHOW ame.import_max_field_size;
RESET ame.import_max_field_size;
RESET ame.audit_context;
SHOW ame.audit_context;

-- a session that set names before the library was loaded: the real one
-- keeps its value, a misspelled one is removed with a WARNING at the load
\c -
SET ame.audit_context = '{"early": true}';
SET ame.early_typo = 'x';
SELECT ame_current_user_id() IS NULL AS loaded;
SHOW ame.audit_context;
SELECT current_setting('ame.early_typo', true) IS NULL AS typo_removed;
BEGIN;
INSERT INTO ame_technicians (name) VALUES ('Early Setter');
SELECT context -> 'audit_context' AS audit_context
FROM ame_audit_logs WHERE new_values ->> 'name' = 'Early Setter';
ROLLBACK;
RESET ame.audit_context;
