'use strict';
// test/app/tap.js -- a tiny TAP producer for test/app.t: tests run one
// after the other; the plan line comes first, so that a crash partway
// shows up as "planned N but ran M" (scripts/test.sh counts every test
// that did not run as a failure).
const tests = [];

// test(name, { covers: ['fn', ...] }, async () => {...})
// covers: the extension's functions the test calls (the coverage check)
function test(name, opts, fn) {
	tests.push({ name, covers: opts.covers || [], fn });
}

async function run() {
	console.log(`1..${tests.length}`);
	let n = 0;
	let failed = 0;
	for (const t of tests) {
		n++;
		try {
			await t.fn();
			console.log(`ok ${n} - ${t.name}`);
		} catch (err) {
			failed++;
			console.log(`not ok ${n} - ${t.name}`);
			const text = err && err.stack ? err.stack : String(err);
			for (const line of text.split('\n'))
				console.log(`#   ${line}`);
			if (err && err.code)
				console.log(`#   SQLSTATE ${err.code}${err.constraint ? ' constraint ' + err.constraint : ''}`);
		}
	}
	return failed;
}

module.exports = { test, run, tests };
