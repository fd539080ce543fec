--
-- import_quoting: quotes as COPY (FORMAT csv) reads them, lone CR, LF and
-- CRLF mixed, and the line where a multi-line record starts
--
\set VERBOSITY terse
BEGIN;
SELECT id AS batch FROM ame_import_csv(
  'name,email' || chr(10) ||
  '"Q1 ""quoted""",a@x' || chr(10) ||           -- doubled quotes
  'Q2 "mid,"dle,b@x' || chr(10) ||               -- quotes may start inside a field
  '"Q3 multi' || chr(10) || 'line' || chr(10) || 'name",c@x' || chr(13) || chr(10) ||  -- three lines, then CRLF
  'Q3b ragged,x,y' || chr(10) ||                 -- line 7, after the three-line record
  '"Q4",' || chr(10) ||                          -- NULL email
  '"Q5",""' || chr(10) ||                        -- empty-string email
  'Q6 lone' || chr(13) || 'CR,d@x' || chr(10) ||  -- a lone CR is data
  '"Q7, comma"   ,e@x' || chr(10) ||             -- text after the closing quote is kept
  chr(10) || chr(13) || chr(10) ||               -- blank lines
  'Q8 last,f@x',                                 -- no final newline
  'technicians') \gset
SELECT status, total_records, success_count, error_count
FROM import_batches WHERE id = :'batch';
SELECT name, email, email IS NULL AS email_null
FROM ame_technicians WHERE name LIKE 'Q%' ORDER BY name;
SELECT row_number, line_number, sqlstate, error_message, raw_data
FROM import_errors WHERE batch_id = :'batch' ORDER BY row_number;
ROLLBACK;
