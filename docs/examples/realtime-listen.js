'use strict';
// docs/examples/realtime-listen.js -- a node-postgres LISTEN client for the
// NOTIFY payloads of channel "ame_realtime" (docs/realtime.md).
//
// It connects with the usual PG* environment variables (PGHOST, PGPORT,
// PGDATABASE, PGUSER, PGPASSWORD, ...), runs LISTEN ame_realtime, and for
// each notification prints one line of JSON: the parsed payload and the
// "rooms" it routes to (what an app would push it to, e.g. a websocket
// room per visit, per technician, per customer), without a query:
//
//   {"payload":{...},"rooms":["visit:<uuid>","technician:<uuid>"]}
//
// Once it is listening it prints "# listening on ame_realtime".  It exits
// 0 after AME_LISTEN_COUNT notifications (default 1), or 1 when
// AME_LISTEN_TIMEOUT_MS (default 30000) pass first.  A lost connection is
// re-opened (with a growing pause) and LISTEN sent again; notifications
// sent while it was down are lost, so the app reloads what it shows
// ("# reconnected: reload" is printed).
//
// LISTEN needs a session-mode connection: a direct connection to the
// primary, or PgBouncer / Supavisor in SESSION mode.  A transaction-mode
// pooler hands the connection to other clients between transactions, and
// the LISTEN is lost (or heard by someone else).
//
// Run: NODE_PATH=test/app/node_modules node docs/examples/realtime-listen.js
const { Client } = require('pg');

const wanted = Number(process.env.AME_LISTEN_COUNT || 1);
const timeoutMs = Number(process.env.AME_LISTEN_TIMEOUT_MS || 30000);
let heard = 0;
let client = null;
let stopping = false;
let connectedBefore = false;

// Where a notification goes.  Keys a table does not have are absent:
// sessions and progress carry visit_id and technician_id (the visit's),
// devices visit_id and customer_id; a key that is there may be null.
function rooms(msg) {
	const out = [];
	if (msg.operation === 'CLEANUP') {
		// cleanup_expired_sessions(): the visits whose sessions were archived
		for (const v of msg.visits) {
			out.push(`visit:${v.visit_id}`);
			if (v.technician_id) out.push(`technician:${v.technician_id}`);
		}
		if (msg.truncated) out.push(`reload:${msg.schema}.${msg.table}`);
		return out;
	}
	if (msg.bulk) {
		// more than 100 rows in one statement: no ids, reload the table
		return [`reload:${msg.schema}.${msg.table}`];
	}
	if (msg.visit_id) out.push(`visit:${msg.visit_id}`);
	if (msg.technician_id) out.push(`technician:${msg.technician_id}`);
	if (msg.customer_id) out.push(`customer:${msg.customer_id}`);
	return out;
}

function finish(code) {
	stopping = true;
	clearTimeout(timer);
	const c = client;
	client = null;
	if (c) c.end().catch(() => {}).finally(() => process.exit(code));
	else process.exit(code);
}

async function listen(attempt) {
	const c = new Client();			// PG* environment variables
	client = c;
	c.on('notification', (n) => {
		if (n.channel !== 'ame_realtime') return;
		let msg;
		try {
			msg = JSON.parse(n.payload);
		} catch (e) {
			console.log(`# not JSON: ${n.payload}`);
			return;
		}
		console.log(JSON.stringify({ payload: msg, rooms: rooms(msg) }));
		if (++heard >= wanted) finish(0);
	});
	// a broken connection: open a new one and LISTEN again
	const retry = (err) => {
		if (stopping || client !== c) return;
		client = null;
		console.log(`# connection lost (${err ? err.message : 'closed'}): reconnecting`);
		c.end().catch(() => {});
		const pause = Math.min(30000, 500 * 2 ** Math.min(attempt, 6));
		setTimeout(() => listen(attempt + 1), pause);
	};
	c.on('error', retry);
	c.on('end', () => retry(null));
	try {
		await c.connect();
		await c.query('LISTEN ame_realtime');
	} catch (err) {
		retry(err);
		return;
	}
	attempt = 0;					// connected: the next loss waits 0.5 s again
	console.log(connectedBefore ? '# reconnected: reload' : '# listening on ame_realtime');
	connectedBefore = true;
}

const timer = setTimeout(() => {
	console.log(`# timeout: ${heard} of ${wanted} notification(s)`);
	finish(1);
}, timeoutMs);

process.on('SIGINT', () => finish(0));
process.on('SIGTERM', () => finish(0));
listen(0);
