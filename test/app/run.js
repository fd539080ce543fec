'use strict';
// test/app/run.js -- the node-postgres tests of test/app.t: loads the test
// files, adds the coverage check (every function of the extension that is not a
// trigger function is called by at least one test), and prints TAP.
const fs = require('node:fs');
const path = require('node:path');
const { test, run, tests } = require('./tap');
const { connect } = require('./pgrst');

const { close } = require('./functions.test');
require('./v2_api.test');

// the extension's functions and procedures, trigger functions left out
const extensionFunctions = `
	SELECT DISTINCT p.proname
	FROM pg_catalog.pg_proc p
	JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass
		AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ame'
	WHERE p.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
	ORDER BY 1`;

test('every function of the extension (not a trigger function) has a node-postgres test', {}, async () => {
	const client = await connect();
	try {
		const { rows } = await client.query(extensionFunctions);
		const covered = new Set(tests.flatMap((t) => t.covers));
		const missing = rows.map((r) => r.proname).filter((f) => !covered.has(f));
		if (rows.length < 20 || missing.length > 0)
			throw new Error(`${rows.length} functions; without a test: ${missing.join(', ') || '(none)'}`);
	} finally {
		await client.end();
	}
});

// docs/app-guide.md shows the code of these tests: a ```js block whose
// first line is "// test/app/FILE (excerpt)" has each of its other lines
// (but "// …") in FILE, in that order
test('the JavaScript excerpts of docs/app-guide.md are code of test/app', {}, async () => {
	const guide = fs.readFileSync(path.join(__dirname, '../../docs/app-guide.md'), 'utf8');
	const blocks = [...guide.matchAll(/^```js\n\/\/ test\/app\/([a-z0-9_.]+) \(excerpt\)\n([\s\S]*?)^```$/gm)];
	const wrong = [];
	for (const [, file, body] of blocks) {
		const code = fs.readFileSync(path.join(__dirname, file), 'utf8').split('\n');
		let at = 0;
		for (const line of body.split('\n')) {
			if (line.trim() === '' || line.trim() === '// …')
				continue;
			const found = code.findIndex((c, i) => i >= at && c === line);
			if (found < 0) {
				wrong.push(`${file}: ${line.trim()}`);
				break;
			}
			at = found + 1;
		}
	}
	if (blocks.length < 4 || wrong.length > 0)
		throw new Error(`${blocks.length} excerpts; not in the file (in order): ${wrong.join('; ') || '(none)'}`);
});

(async () => {
	const failed = await run();
	await close();
	process.exitCode = failed > 0 ? 1 : 0;
})().catch((err) => {
	console.log(`# ${err && err.stack ? err.stack : err}`);
	process.exitCode = 1;
});
