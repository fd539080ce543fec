'use strict';
// test/app/pgrst.js -- calling ame's functions the way PostgREST (and so
// Supabase's REST API and supabase-js's rpc()) calls an RPC, through
// node-postgres: one transaction per request, the JWT's role switched to
// with SET LOCAL ROLE, its claims in the transaction-local GUC
// request.jwt.claims, then SELECT * FROM "schema"."fn"("arg" := $1, ...)
// with named arguments.  Also PostgREST's mapping of a SQLSTATE to the
// HTTP status of the response, so that a test can say which status a
// client gets.
const { Client } = require('pg');

const schema = process.env.AME_SCHEMA || 'public';

function ident(name) {
	return '"' + String(name).replace(/"/g, '""') + '"';
}

// a client of the cluster that test/app.t runs in (PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE from pg_virtualenv): a superuser, the
// extension's owner
async function connect() {
	const client = new Client();
	await client.connect();
	client.notices = [];
	client.on('notice', (n) => client.notices.push(n));
	return client;
}

// The JWT claims of a technician (sub = their user id) and of an anonymous
// request, as Supabase's auth issues them.
function claimsOf(userId) {
	return userId === null
		? { role: 'anon' }
		: { sub: userId, role: 'authenticated', aud: 'authenticated' };
}

// rpc(client, 'ame_advance_phase', { visit_id: id }, { role, claims })
// runs one request: role 'authenticated' (default), 'anon', or null for
// the connecting role itself (the owner: what a service-role key or a
// psql session of the owner does).  Returns node-postgres's result: rows
// (one per row of the function's result, named by its columns; a scalar
// function gives one row named after the function), fields.  An error
// rolls the request's transaction back and is thrown as node-postgres
// raises it (err.code is the SQLSTATE, err.constraint the constraint).
// call: 'select' (default) or 'call' for a procedure (PostgREST cannot
// CALL one: node-postgres and psql can).
async function rpc(client, fn, args = {}, { role = 'authenticated', claims, call = 'select' } = {}) {
	const names = Object.keys(args);
	const list = names.map((k, i) => `${ident(k)} := $${i + 1}`).join(', ');
	const text = call === 'call'
		? `CALL ${ident(schema)}.${ident(fn)}(${list})`
		: `SELECT * FROM ${ident(schema)}.${ident(fn)}(${list})`;
	// without claims: an anonymous request as anon, the service role's
	// claims (no sub) otherwise
	const jwt = claims !== undefined ? claims
		: role === 'anon' ? claimsOf(null) : { role: 'service_role' };
	await client.query('BEGIN');
	try {
		if (role !== null)
			await client.query(`SET LOCAL ROLE ${ident(role)}`);
		await client.query("SELECT set_config('request.jwt.claims', $1, true)", [JSON.stringify(jwt)]);
		const res = await client.query(text, names.map((k) => args[k]));
		await client.query('COMMIT');
		return res;
	} catch (err) {
		await client.query('ROLLBACK');
		throw err;
	}
}

// PostgREST's HTTP status for an error with this SQLSTATE (its
// documentation, "HTTP Status Codes"; 54* is 413 up to PostgREST 11 and
// 500 from 12).  42501 is 401 for the anonymous role, 403 for a
// request with a JWT.
function httpStatus(code, { anonymous = false } = {}) {
	const exact = {
		'23503': 409, '23505': 409, '25006': 405, '53400': 500, 'P0001': 400,
		'42883': 404, '42P01': 404, '42P17': 500,
	};
	if (code === '42501')
		return anonymous ? 401 : 403;
	if (exact[code])
		return exact[code];
	const byClass = {
		'08': 503, '09': 500, '0L': 403, '0P': 403, '25': 500, '28': 403, '2D': 500,
		'38': 500, '39': 500, '3B': 500, '40': 500, '53': 503, '54': 500, '55': 500,
		'57': 500, '58': 500, 'F0': 500, 'HV': 500, 'P0': 500, 'XX': 500,
	};
	const c = code.slice(0, 2);
	return byClass[c] || 400;
}

module.exports = { connect, rpc, claimsOf, httpStatus, ident, schema };
