'use strict';
// test/app/v2_api.test.js -- the functions whose signature or errors
// change in 2.0 (CHANGELOG.md, 2.0): the sessions
// (ame_start_session returns the session as a row; an unknown token is
// 22023, an ended or expired one 23514 ame_session_active, a closed visit
// 23514 ame_visit_workflow) and the imports (ame_import_csv,
// ame_import_csv_bytes, ame_import_csv_file return the batch's row; CALL
// ame_import_csv_file_chunked, ame_import_progress).
const assert = require('node:assert/strict');
const path = require('node:path');
const { test } = require('./tap');
const { rpc, ident, schema } = require('./pgrst');
const { db, owner, asAna, asOwner, failure, refusedToAna, visit } = require('./functions.test');

const sessionsOf = (v) => owner('SELECT count(*)::int AS n FROM ame_visit_sessions WHERE visit_id = $1', [v]);
const dataDir = process.env.AME_DATA_DIR || path.resolve(__dirname, '../../data');

// -- sessions

test('ame_start_session: one row (session_id, session_token, expires_at), the session as stored', { covers: ['ame_start_session'] }, async () => {
	const { rows, fields } = await asAna('ame_start_session', { visit_id: visit(1), ttl: '2 hours' });
	assert.deepEqual(fields.map((f) => f.name), ['session_id', 'session_token', 'expires_at']);
	assert.equal(rows.length, 1);
	const [s] = rows;
	assert.ok(s.expires_at instanceof Date);
	const [stored] = await owner('SELECT id, visit_id, technician_id, expires_at, ttl = interval \'2 hours\' AS ttl_kept FROM ame_visit_sessions WHERE session_token = $1', [s.session_token]);
	assert.equal(stored.id, s.session_id);
	assert.equal(stored.visit_id, visit(1));
	assert.equal(stored.technician_id, 'a0000000-0000-0000-0000-000000000001');
	assert.equal(stored.expires_at.getTime(), s.expires_at.getTime());
	assert.equal(stored.ttl_kept, true);
});

test('ame_start_session: a closed visit is 23514 ame_visit_workflow (400), another\'s visit 22023 (400); no session made', { covers: ['ame_start_session'] }, async () => {
	for (const v of [visit(4), visit(5)]) {
		const before = await sessionsOf(v);
		await failure(asAna('ame_start_session', { visit_id: v }), { code: '23514', constraint: 'ame_visit_workflow', status: 400 });
		assert.deepEqual(await sessionsOf(v), before);
	}
	const before = await sessionsOf(visit(9));
	await failure(asAna('ame_start_session', { visit_id: visit(9) }), { code: '22023', status: 400 });
	assert.deepEqual(await sessionsOf(visit(9)), before);
	await failure(asAna('ame_start_session', { visit_id: visit(1), ttl: '-1 hour' }), { code: '22023', status: 400 });
});

test('ame_touch_session: the new expires_at as a row, auto_save merged; a non-object: 22023 (400)', { covers: ['ame_touch_session'] }, async () => {
	const { rows: [s] } = await asAna('ame_start_session', { visit_id: visit(3) });
	const { rows } = await asAna('ame_touch_session', { token: s.session_token, auto_save: JSON.stringify({ step: 2 }) });
	assert.equal(rows.length, 1);
	assert.ok(rows[0].ame_touch_session instanceof Date);
	const read = () => owner('SELECT auto_save_data, expires_at FROM ame_visit_sessions WHERE id = $1', [s.session_id]);
	const [stored] = await read();
	assert.deepEqual(stored.auto_save_data, { step: 2 });
	assert.equal(stored.expires_at.getTime(), rows[0].ame_touch_session.getTime());
	await failure(asAna('ame_touch_session', { token: s.session_token, auto_save: '[1, 2]' }), { code: '22023', status: 400 });
	assert.deepEqual(await read(), [stored]);
});

test('touch and end: an unknown or invisible token is 22023 (400); an ended session 23514 ame_session_active (400); unchanged', { covers: ['ame_touch_session', 'ame_end_session'] }, async () => {
	for (const fn of ['ame_touch_session', 'ame_end_session']) {
		await failure(asAna(fn, { token: 'no-such-token' }), { code: '22023', status: 400 });
		// Ben's session: invisible to Ana, the same answer
		await owner("INSERT INTO ame_visit_sessions (visit_id, session_token, expires_at) VALUES ($1, $2, now() + interval '1 hour') ON CONFLICT DO NOTHING",
			[visit(9), 'tok-ben']);
		await failure(asAna(fn, { token: 'tok-ben' }), { code: '22023', status: 400 });
		assert.deepEqual(await owner('SELECT is_active, auto_save_data FROM ame_visit_sessions WHERE session_token = $1', ['tok-ben']),
			[{ is_active: true, auto_save_data: {} }]);
	}
	const read = () => owner('SELECT is_active, expires_at, auto_save_data FROM ame_visit_sessions WHERE session_token = $1', ['tok-to-end']);
	const before = await read();
	assert.equal(before[0].is_active, false, 'ended by functions.test.js');
	for (const fn of ['ame_touch_session', 'ame_end_session'])
		await failure(asAna(fn, { token: 'tok-to-end' }), { code: '23514', constraint: 'ame_session_active', status: 400 });
	assert.deepEqual(await read(), before);
});

// -- imports (owner-only unless granted: the owner calls them here)

const batches = async () => (await owner('SELECT count(*)::int AS n FROM import_batches'))[0].n;
const csv = 'company_name,service_tier,email\nAcme,core,ops@acme.example\nBad Tier,gold,x@y.example\n';

function assertBatch(row, { status, total, success, errors }) {
	assert.equal(row.status, status);
	assert.equal(row.total_records, total);
	assert.equal(row.success_count, success);
	assert.equal(row.error_count, errors);
	assert.equal(row.skipped_count, 0);
	assert.match(row.id, /^[0-9a-f-]{36}$/);
}

test('ame_import_csv: the batch as a row; a bad import_type 22023 (400), no batch; Ana: 42501 (403)', { covers: ['ame_import_csv'] }, async () => {
	const n = await batches();
	const { rows } = await asOwner('ame_import_csv', { data: csv, import_type: 'customers', source_file: 'app.csv' });
	assert.equal(rows.length, 1);
	assertBatch(rows[0], { status: 'completed_with_errors', total: 2, success: 1, errors: 1 });
	assert.equal(rows[0].source_file, 'app.csv');
	assert.deepEqual(await owner('SELECT status FROM import_batches WHERE id = $1', [rows[0].id]), [{ status: 'completed_with_errors' }]);
	await failure(asOwner('ame_import_csv', { data: csv, import_type: 'customer' }), { code: '22023', status: 400 });
	await refusedToAna('ame_import_csv', { data: csv, import_type: 'customers' });
	assert.equal(await batches(), n + 1);
});

test('ame_import_csv_bytes: raw bytes (a Buffer) with invalid UTF-8: the batch as a row, the bad record explained', { covers: ['ame_import_csv_bytes'] }, async () => {
	const bytes = Buffer.concat([Buffer.from('company_name,service_tier\nBytes Co,core\n'), Buffer.from([0x42, 0xff, 0x2c]), Buffer.from('core\n')]);
	const { rows } = await asOwner('ame_import_csv_bytes', { data: bytes, import_type: 'customers' });
	assert.equal(rows.length, 1);
	assertBatch(rows[0], { status: 'completed_with_errors', total: 2, success: 1, errors: 1 });
	assert.deepEqual(await owner('SELECT sqlstate FROM import_errors WHERE batch_id = $1', [rows[0].id]), [{ sqlstate: '22021' }]);
	await refusedToAna('ame_import_csv_bytes', { data: bytes, import_type: 'customers' });
});

test('ame_import_csv_file: a server file, the batch as a row; Ana: 42501 (403)', { covers: ['ame_import_csv_file'] }, async () => {
	const file = path.join(dataDir, 'technicians.csv');
	const { rows } = await asOwner('ame_import_csv_file', { path: file, import_type: 'technicians' });
	assert.equal(rows.length, 1);
	assert.equal(rows[0].source_file, file);
	assert.equal(rows[0].success_count + rows[0].error_count + rows[0].skipped_count, rows[0].total_records);
	await refusedToAna('ame_import_csv_file', { path: file, import_type: 'technicians' });
});

// CALL of a procedure: node-postgres and psql (PostgREST cannot CALL).
test('CALL ame_import_csv_file_chunked, ame_import_progress(batch_id): the batch commits in chunks, progress by batch id', { covers: ['ame_import_csv_file_chunked', 'ame_import_progress'] }, async () => {
	const file = path.join(dataDir, 'customers_basic.csv');
	const n = await batches();
	const c = await db();
	// the procedure commits after each chunk: it is called on its own, not
	// inside BEGIN (there it refuses with 2D000, having written nothing)
	await failure(rpc(c, 'ame_import_csv_file_chunked', { path: file, import_type: 'customers', chunk_rows: 2 }, { role: null, call: 'call' }),
		{ code: '2D000', status: 500 });
	assert.equal(await batches(), n);
	const res = await c.query(`CALL ${ident(schema)}.ame_import_csv_file_chunked(path => $1, import_type => $2, chunk_rows => $3)`,
		[file, 'customers', 2]);
	assert.equal(res.rows.length, 1);
	const id = res.rows[0].batch_id;
	assert.equal(await batches(), n + 1);
	const [batch] = await owner('SELECT * FROM import_batches WHERE id = $1', [id]);
	assert.ok(['completed', 'completed_with_errors'].includes(batch.status), batch.status);
	const { rows } = await asOwner('ame_import_progress', { batch_id: id });
	assert.equal(rows.length, 1);
	assert.equal(rows[0].status, batch.status);
	assert.equal(rows[0].records_read, String(batch.total_records));
	await failure(asOwner('ame_import_csv_file_chunked', { path: file, import_type: 'customers', chunk_rows: 0 }, { call: 'call' }),
		{ code: '22023', status: 400 });
});
