'use strict';
// test/app/functions.test.js -- every function of ame whose signature 2.0
// keeps, called through node-postgres exactly as PostgREST calls an RPC
// (test/app/pgrst.js): the rows the client gets, the SQLSTATE and HTTP
// status of each error a client can cause, and a re-read showing that the
// failed call changed nothing.  The data: test/app/fixture.sql.  Ana is
// technician ...0001 (user ...0001); Ben's visit ...0009 is not hers.
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { test } = require('./tap');
const { connect, rpc, claimsOf, httpStatus } = require('./pgrst');

const ana = claimsOf('00000000-0000-4000-8000-000000000001');
const anaTechnician = 'a0000000-0000-0000-0000-000000000001';
const visit = (n) => `d0000000-0000-0000-0000-00000000000${n}`;
const task = (n) => `e0000000-0000-0000-0000-0000000000${n}`;

let client;
async function db() {
	if (!client)
		client = await connect();
	return client;
}
// the owner's view of the data, outside any request (row-level security
// does not apply to the owner)
async function owner(sql, params = []) {
	return (await (await db()).query(sql, params)).rows;
}
// a request as Ana (authenticated, her JWT)
async function asAna(fn, args) {
	return rpc(await db(), fn, args, { role: 'authenticated', claims: ana });
}
// a request as the owner (a service-role key, or the owner's own session)
async function asOwner(fn, args, opts = {}) {
	return rpc(await db(), fn, args, { role: null, ...opts });
}
// the error of a request that must fail: its SQLSTATE, constraint and the
// HTTP status PostgREST answers with
async function failure(promise, { code, constraint, status, anonymous = false, message }) {
	let err = null;
	try {
		await promise;
	} catch (e) {
		err = e;
	}
	assert.ok(err, `expected SQLSTATE ${code}, the call succeeded`);
	assert.equal(err.code, code, `SQLSTATE of "${err.message}"`);
	if (constraint !== undefined)
		assert.equal(err.constraint, constraint, 'constraint name');
	if (message !== undefined)
		assert.match(err.message, message);
	assert.equal(httpStatus(err.code, { anonymous }), status, 'HTTP status under PostgREST');
	return err;
}
// an owner-only function: refused to an authenticated request with 42501
// (PostgREST: 403), nothing changed (the caller re-reads)
async function refusedToAna(fn, args) {
	return failure(asAna(fn, args), { code: '42501', status: 403, message: /permission denied for function/ });
}

// -- identity and the helpers of the row-level security policies

test('ame_current_user_id: the JWT sub; a malformed claim is 22P02 (400)', { covers: ['ame_current_user_id'] }, async () => {
	const { rows } = await asAna('ame_current_user_id', {});
	assert.deepEqual(rows, [{ ame_current_user_id: ana.sub }]);
	const anon = await rpc(await db(), 'ame_current_user_id', {}, { role: 'anon' });
	assert.deepEqual(anon.rows, [{ ame_current_user_id: null }]);
	await failure(rpc(await db(), 'ame_current_user_id', {}, { claims: { sub: 'not-a-uuid', role: 'authenticated' } }),
		{ code: '22P02', status: 400, message: /invalid JWT claim/ });
});

test('ame_current_technician_id: the technician of the JWT sub, null without one', { covers: ['ame_current_technician_id'] }, async () => {
	assert.deepEqual((await asAna('ame_current_technician_id', {})).rows,
		[{ ame_current_technician_id: anaTechnician }]);
	assert.deepEqual((await rpc(await db(), 'ame_current_technician_id', {}, { role: 'anon' })).rows,
		[{ ame_current_technician_id: null }]);
});

test('ame_current_visit_ids: the ids of Ana\'s visits only, as a uuid array', { covers: ['ame_current_visit_ids'] }, async () => {
	const { rows } = await asAna('ame_current_visit_ids', {});
	assert.equal(rows.length, 1);
	assert.deepEqual([...rows[0].ame_current_visit_ids].sort(), [1, 2, 3, 4, 5].map(visit));
});

// -- the workflow

test('ame_visit_next_steps: rows (action, task_id, allowed, reason); another\'s visit: none; anon: 42501 (401)', { covers: ['ame_visit_next_steps'] }, async () => {
	const { rows, fields } = await asAna('ame_visit_next_steps', { visit_id: visit(2) });
	assert.deepEqual(fields.map((f) => f.name), ['action', 'task_id', 'allowed', 'reason']);
	const allowed = rows.filter((r) => r.task_id !== null && r.allowed).map((r) => r.task_id).sort();
	assert.deepEqual(allowed, [task(21), task(22)], 'the open tasks of phase 1 can be completed');
	assert.ok(rows.some((r) => r.task_id === task(24) && !r.allowed && r.reason), 'phase 4\'s task not yet, with a reason');
	assert.ok(rows.every((r) => typeof r.allowed === 'boolean'));
	assert.deepEqual((await asAna('ame_visit_next_steps', { visit_id: visit(9) })).rows, [], 'Ben\'s visit');
	await failure(rpc(await db(), 'ame_visit_next_steps', { visit_id: visit(2) }, { role: 'anon' }),
		{ code: '42501', status: 401, anonymous: true, message: /permission denied for table ame_visit/ });
});

test('ame_complete_task: one row (void); another\'s task: 22023 (400), unchanged', { covers: ['ame_complete_task'] }, async () => {
	const { rows } = await asAna('ame_complete_task', { progress_id: task(21), notes: 'all quiet' });
	assert.equal(rows.length, 1);
	assert.deepEqual(await owner('SELECT is_completed, notes, completed_at IS NOT NULL AS stamped FROM ame_visit_progress WHERE id = $1', [task(21)]),
		[{ is_completed: true, notes: 'all quiet', stamped: true }]);
	await failure(asAna('ame_complete_task', { progress_id: task(91), notes: 'not mine' }),
		{ code: '22023', status: 400, message: /does not exist or is not visible to you/ });
	assert.deepEqual(await owner('SELECT is_completed, notes FROM ame_visit_progress WHERE id = $1', [task(91)]),
		[{ is_completed: false, notes: null }]);
	// a task of a later phase: refused by the workflow
	await failure(asAna('ame_complete_task', { progress_id: task(24) }),
		{ code: '23514', constraint: 'ame_visit_task_workflow', status: 400 });
	assert.deepEqual(await owner('SELECT is_completed FROM ame_visit_progress WHERE id = $1', [task(24)]),
		[{ is_completed: false }]);
});

test('ame_advance_phase: the new phase as a row; open tasks: 23514 ame_visit_workflow (400), unchanged', { covers: ['ame_advance_phase'] }, async () => {
	const phase = async (v) => (await owner('SELECT current_phase FROM ame_visits WHERE id = $1', [v]))[0].current_phase;
	await failure(asAna('ame_advance_phase', { visit_id: visit(2) }),
		{ code: '23514', constraint: 'ame_visit_workflow', status: 400, message: /of phase 1 (is|are) not completed/ });
	assert.equal(await phase(visit(2)), 1);
	await asAna('ame_complete_task', { progress_id: task(22) });
	assert.deepEqual((await asAna('ame_advance_phase', { visit_id: visit(2) })).rows, [{ ame_advance_phase: 2 }]);
	assert.equal(await phase(visit(2)), 2);
	await failure(asAna('ame_advance_phase', { visit_id: visit(9) }),
		{ code: '22023', status: 400, message: /does not exist or is not visible to you/ });
	assert.equal(await phase(visit(9)), 1);
	await failure(asAna('ame_advance_phase', { visit_id: visit(4) }),
		{ code: '23514', constraint: 'ame_visit_workflow', status: 400 });
	assert.equal(await phase(visit(4)), 4);
});

// -- realtime: the LISTEN client of docs/examples/realtime-listen.js hears
//    a technician's RPC and routes it without a query

test('docs/examples/realtime-listen.js hears Ana\'s ame_complete_task, routed to her visit and to her', { covers: ['ame_complete_task'] }, async () => {
	const child = spawn(process.execPath, [path.join(__dirname, '../../docs/examples/realtime-listen.js')], {
		env: { ...process.env, NODE_PATH: path.join(__dirname, 'node_modules'), AME_LISTEN_COUNT: '1', AME_LISTEN_TIMEOUT_MS: '20000' },
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	let out = '';
	const listening = new Promise((resolve) => {
		child.stdout.on('data', (d) => {
			out += d;
			if (out.includes('# listening on ame_realtime'))
				resolve();
		});
	});
	const exited = new Promise((resolve) => child.on('exit', resolve));
	await Promise.race([listening, exited]);
	await asAna('ame_complete_task', { progress_id: task(31) });
	assert.equal(await exited, 0, `the listener's exit status (output: ${out})`);
	const lines = out.split('\n').filter((l) => l.startsWith('{'));
	assert.equal(lines.length, 1, out);
	const { payload, rooms } = JSON.parse(lines[0]);
	assert.equal(payload.table, 'ame_visit_progress');
	assert.equal(payload.operation, 'UPDATE');
	assert.equal(payload.id, task(31));
	assert.deepEqual(rooms, [`visit:${visit(3)}`, `technician:${anaTechnician}`]);
});

// -- sessions (what 2.0 keeps; the rest is in v2_api.test.js)

test('ame_end_session: the end time as a row; the session is ended', { covers: ['ame_end_session'] }, async () => {
	const { rows } = await asAna('ame_end_session', { token: 'tok-to-end' });
	assert.equal(rows.length, 1);
	assert.ok(rows[0].ame_end_session instanceof Date);
	const [s] = await owner('SELECT is_active, expires_at FROM ame_visit_sessions WHERE session_token = $1', ['tok-to-end']);
	assert.equal(s.is_active, false);
	assert.equal(s.expires_at.getTime(), rows[0].ame_end_session.getTime());
});

// -- history

test('ame_record_history: rows of Ana\'s visit; a table she may not read: 42501 (403)', { covers: ['ame_record_history'] }, async () => {
	const { rows, fields } = await asAna('ame_record_history', { tbl: 'ame_visits', record: visit(2) });
	assert.deepEqual(fields.map((f) => f.name),
		['seq', 'operation', 'changed_fields', 'old_values', 'new_values', 'user_id', 'performed_at', 'context']);
	assert.equal(rows[0].operation, 'INSERT');
	assert.ok(rows.some((r) => r.operation === 'UPDATE' && r.changed_fields.includes('current_phase')));
	assert.ok(rows.some((r) => r.user_id === ana.sub), 'her own changes carry her user id');
	assert.deepEqual((await asAna('ame_record_history', { tbl: 'ame_visits', record: visit(9) })).rows, [], 'Ben\'s visit');
	await failure(asAna('ame_record_history', { tbl: 'app_notes', record: 'b0000000-0000-0000-0000-000000000001' }),
		{ code: '42501', status: 403, message: /permission denied for table/ });
});

test('ame_record_at: the row as jsonb then; another\'s visit: null', { covers: ['ame_record_at'] }, async () => {
	const { rows } = await asAna('ame_record_at', { tbl: 'ame_visits', record: visit(3), at: new Date().toISOString() });
	assert.equal(rows.length, 1);
	assert.equal(rows[0].ame_record_at.id, visit(3));
	assert.equal(rows[0].ame_record_at.status, 'in_progress');
	assert.deepEqual((await asAna('ame_record_at', { tbl: 'ame_visits', record: visit(9), at: new Date().toISOString() })).rows,
		[{ ame_record_at: null }]);
	await failure(asAna('ame_record_at', { tbl: 'ame_visits', record: null, at: new Date().toISOString() }),
		{ code: '22023', status: 400, message: /must not be NULL/ });
});

test('ame_audit_log_history, ame_audit_log_lineage: the log\'s rows for its readers; Ana: 42501 (403)', { covers: ['ame_audit_log_history', 'ame_audit_log_lineage'] }, async () => {
	for (const fn of ['ame_audit_log_history', 'ame_audit_log_lineage']) {
		const args = { tbl: 'ame_visits', record: visit(9), upto: new Date().toISOString() };
		const { rows } = await asOwner(fn, args);
		assert.ok(rows.length >= 1 && rows[0].operation === 'INSERT', fn);
		await failure(asAna(fn, args), { code: '42501', status: 403, message: /permission denied for table ame_audit_logs/ });
	}
});

// -- owner-only functions: as the owner they work; an authenticated
//    request is refused with 42501 and changes nothing

test('ame_require_owner: nothing for the owner; 42501 (403) for Ana', { covers: ['ame_require_owner'] }, async () => {
	assert.equal((await asOwner('ame_require_owner', { function_name: 'my_function' })).rows.length, 1);
	await failure(asAna('ame_require_owner', { function_name: 'my_function' }),
		{ code: '42501', status: 403, message: /permission denied for function "my_function"/ });
});

test('ame_enable_audit, ame_disable_audit: the owner turns auditing of a table on and off; Ana: 42501 (403)', { covers: ['ame_enable_audit', 'ame_disable_audit'] }, async () => {
	const audited = async () => (await owner("SELECT excluded_columns FROM ame_audited_tables WHERE table_name = 'app_notes'"));
	await refusedToAna('ame_enable_audit', { tbl: 'app_notes', exclude: ['secret'] });
	assert.deepEqual(await audited(), []);
	assert.equal((await asOwner('ame_enable_audit', { tbl: 'app_notes', exclude: ['secret'] })).rows.length, 1);
	assert.deepEqual(await audited(), [{ excluded_columns: ['secret'] }]);
	await failure(asOwner('ame_enable_audit', { tbl: 'app_notes', exclude: ['no_such_column'] }),
		{ code: '42703', status: 400 });
	assert.deepEqual(await audited(), [{ excluded_columns: ['secret'] }]);
	await refusedToAna('ame_disable_audit', { tbl: 'app_notes' });
	assert.deepEqual(await audited(), [{ excluded_columns: ['secret'] }]);
	assert.equal((await asOwner('ame_disable_audit', { tbl: 'app_notes' })).rows.length, 1);
	assert.deepEqual(await audited(), []);
});

test('ame_audit_add_partitions: the number made, as a row; Ana: 42501 (403)', { covers: ['ame_audit_add_partitions'] }, async () => {
	const partitions = "SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass";
	const before = await owner(partitions);
	await refusedToAna('ame_audit_add_partitions', { since: '2020-01-01', until: '2020-03-01' });
	assert.deepEqual(await owner(partitions), before);
	const { rows } = await asOwner('ame_audit_add_partitions', { since: '2020-01-01', until: '2020-03-01' });
	assert.equal(rows.length, 1);
	assert.equal(typeof rows[0].ame_audit_add_partitions, 'number');
	assert.ok(rows[0].ame_audit_add_partitions >= 2, `made ${rows[0].ame_audit_add_partitions}`);
	assert.deepEqual(await owner(partitions), [{ n: before[0].n + rows[0].ame_audit_add_partitions }]);
});

test('ame_purge_audit_logs: rows purged (bigint: a string in node-postgres); Ana: 42501 (403)', { covers: ['ame_purge_audit_logs'] }, async () => {
	const before = await owner('SELECT count(*) FROM ame_audit_logs');
	await refusedToAna('ame_purge_audit_logs', { older_than: '1 day' });
	assert.deepEqual((await asOwner('ame_purge_audit_logs', { older_than: '100 years' })).rows,
		[{ ame_purge_audit_logs: '0' }]);
	assert.deepEqual(await owner('SELECT count(*) FROM ame_audit_logs'), before);
});

test('ame_audit_maintenance: a jsonb object; Ana: 42501 (403)', { covers: ['ame_audit_maintenance'] }, async () => {
	// the partitions of 2020 made above are past any retention: the
	// maintenance of the owner would drop them, Ana's changes nothing
	const partitions = "SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'ame_audit_logs'::regclass";
	const before = await owner(partitions);
	await refusedToAna('ame_audit_maintenance', {});
	assert.deepEqual(await owner(partitions), before);
	const { rows } = await asOwner('ame_audit_maintenance', {});
	assert.equal(rows.length, 1);
	assert.equal(typeof rows[0].ame_audit_maintenance, 'object');
	assert.ok(!Array.isArray(rows[0].ame_audit_maintenance));
});

test('ame_redact_audit: the number of log rows redacted, as a row; Ana: 42501 (403), unchanged', { covers: ['ame_redact_audit'] }, async () => {
	const holding = "SELECT count(*)::int AS n FROM ame_audit_logs WHERE record_id = $1 AND (old_values->>'notes' = 'gate code 1234' OR new_values->>'notes' = 'gate code 1234')";
	await (await db()).query("UPDATE ame_visits SET notes = 'gate code 1234' WHERE id = $1", [visit(1)]);
	await (await db()).query("UPDATE ame_visits SET notes = 'gate code 1234, ring twice' WHERE id = $1", [visit(1)]);
	assert.deepEqual(await owner(holding, [visit(1)]), [{ n: 2 }]);
	await refusedToAna('ame_redact_audit', { tbl: 'ame_visits', record_id: visit(1), columns: ['notes'], reason: 'test' });
	assert.deepEqual(await owner(holding, [visit(1)]), [{ n: 2 }]);
	const { rows } = await asOwner('ame_redact_audit', { tbl: 'ame_visits', record_id: visit(1), columns: ['notes'], reason: 'gate code' });
	assert.equal(rows.length, 1);
	assert.match(rows[0].ame_redact_audit, /^[0-9]+$/);
	assert.ok(Number(rows[0].ame_redact_audit) >= 2, `redacted ${rows[0].ame_redact_audit}`);
	assert.deepEqual(await owner(holding, [visit(1)]), [{ n: 0 }]);
});

// -- sessions cleanup, pg_cron, realtime (owner-only)

test('cleanup_expired_sessions: the number archived, as a row; Ana: 42501 (403)', { covers: ['cleanup_expired_sessions'] }, async () => {
	const where = 'SELECT count(*) FROM ame_visit_sessions WHERE session_token = $1';
	await refusedToAna('cleanup_expired_sessions', {});
	assert.deepEqual(await owner(where, ['tok-long-expired']), [{ count: '1' }]);
	assert.deepEqual((await asOwner('cleanup_expired_sessions', {})).rows, [{ cleanup_expired_sessions: '1' }]);
	assert.deepEqual(await owner(where, ['tok-long-expired']), [{ count: '0' }]);
	assert.deepEqual(await owner('SELECT count(*) FROM ame_visit_sessions_archive WHERE session_token = $1', ['tok-long-expired']),
		[{ count: '1' }]);
});

test('ame_schedule_cleanup, ame_unschedule_cleanup: the job id, then true; a bad schedule: 22023 (400); Ana: 42501 (403)', { covers: ['ame_schedule_cleanup', 'ame_unschedule_cleanup'] }, async () => {
	const job = "SELECT schedule FROM cron.job WHERE jobname = 'session-cleanup'";
	const installed = await owner(job);
	assert.equal(installed.length, 1, 'CREATE EXTENSION scheduled it (pg_cron is installed)');
	await refusedToAna('ame_schedule_cleanup', { schedule: '15 3 * * *' });
	await refusedToAna('ame_unschedule_cleanup', {});
	assert.deepEqual(await owner(job), installed);
	const { rows } = await asOwner('ame_schedule_cleanup', { schedule: '15 3 * * *' });
	assert.match(rows[0].ame_schedule_cleanup, /^[0-9]+$/);
	assert.deepEqual(await owner(job), [{ schedule: '15 3 * * *' }]);
	await failure(asOwner('ame_schedule_cleanup', { schedule: 'every night' }), { code: '22023', status: 400 });
	assert.deepEqual(await owner(job), [{ schedule: '15 3 * * *' }]);
	assert.deepEqual((await asOwner('ame_unschedule_cleanup', {})).rows, [{ ame_unschedule_cleanup: true }]);
	assert.deepEqual(await owner(job), []);
});

test('ame_schedule_audit_maintenance, ame_unschedule_audit_maintenance: the job id, then true; Ana: 42501 (403)', { covers: ['ame_schedule_audit_maintenance', 'ame_unschedule_audit_maintenance'] }, async () => {
	const job = "SELECT schedule FROM cron.job WHERE jobname = 'audit-maintenance'";
	const installed = await owner(job);
	assert.equal(installed.length, 1, 'CREATE EXTENSION scheduled it (pg_cron is installed)');
	await refusedToAna('ame_schedule_audit_maintenance', { schedule: '45 2 * * *' });
	assert.deepEqual(await owner(job), installed);
	const { rows } = await asOwner('ame_schedule_audit_maintenance', { schedule: '45 2 * * *' });
	assert.match(rows[0].ame_schedule_audit_maintenance, /^[0-9]+$/);
	assert.deepEqual(await owner(job), [{ schedule: '45 2 * * *' }]);
	await refusedToAna('ame_unschedule_audit_maintenance', {});
	assert.deepEqual(await owner(job), [{ schedule: '45 2 * * *' }]);
	assert.deepEqual((await asOwner('ame_unschedule_audit_maintenance', {})).rows, [{ ame_unschedule_audit_maintenance: true }]);
	assert.deepEqual(await owner(job), []);
});

test('ame_setup_realtime: the publication; Ana: 42501 (403)', { covers: ['ame_setup_realtime'] }, async () => {
	const published = "SELECT count(*)::int AS n FROM pg_publication WHERE pubname = 'ame_realtime'";
	await (await db()).query('DROP PUBLICATION IF EXISTS ame_realtime');
	await refusedToAna('ame_setup_realtime', {});
	assert.deepEqual(await owner(published), [{ n: 0 }]);
	assert.equal((await asOwner('ame_setup_realtime', {})).rows.length, 1);
	const tables = await owner("SELECT tablename::text FROM pg_publication_tables WHERE pubname = 'ame_realtime' ORDER BY 1");
	assert.deepEqual(tables.map((r) => r.tablename), ['ame_visit_progress', 'ame_visit_sessions', 'device_inventory']);
});

async function close() {
	if (client)
		await client.end();
	client = null;
}

module.exports = { db, owner, asAna, asOwner, failure, refusedToAna, close, ana, visit, task };
