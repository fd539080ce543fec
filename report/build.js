// report/build.js -- write report.html from the views' rows.
//
//   node report/build.js DATA.json OUT.html
//
// DATA.json is what scripts/report.sh fetched with psql: service_level_metrics,
// service_level_metrics_monthly and technician_performance as arrays of rows.
// The page is one self-contained file that works from file:// offline: the
// charting library (Chart.js, installed from npm by `npm ci` in report/, see
// package.json) is inlined, the rows travel as JSON in a
// <script type="application/json"> block with every '<', '>' and '&'
// written as a \u escape (a name holding "</script>" stays text), and the
// tables beside the charts are built here with every value HTML-escaped.
// After the charts have rendered, the page writes what each chart holds
// (Chart.getChart(canvas).data) into <pre id="ame-rendered">, which
// test/report.t compares with the views.
'use strict';

const fs = require('fs');
const path = require('path');

if (process.argv.length !== 4) {
	process.stderr.write('usage: node report/build.js DATA.json OUT.html\n');
	process.exit(2);
}
const data = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = process.argv[3];

// the UMD build (the package's exports do not name it; read it by path)
const libDir = path.join(__dirname, 'node_modules', 'chart.js');
const libFile = path.join(libDir, 'dist', 'chart.umd.min.js');
const lib = fs.readFileSync(libFile, 'utf8');
const libVersion = JSON.parse(fs.readFileSync(path.join(libDir, 'package.json'), 'utf8')).version;
// inlined as the body of a <script>: it must not be able to end it early
if (/<\/script|<!--/i.test(lib))
	throw new Error(libFile + ' contains "</script" or "<!--": it cannot be inlined');

function html(v) {
	return String(v).replace(/[&<>"']/g, (c) => ({
		'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
	})[c]);
}

// JSON that is safe as the text of a <script> element
function scriptJson(v) {
	return JSON.stringify(v)
		.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
		.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function cell(v) {
	return v === null || v === undefined ? '<td class="null">–</td>' : `<td>${html(v)}</td>`;
}

function table(caption, columns, rows) {
	const head = columns.map(([, title]) => `<th>${html(title)}</th>`).join('');
	const body = rows.map((r) => '<tr>' + columns.map(([key]) => cell(r[key])).join('') + '</tr>').join('\n');
	return `<table><caption>${html(caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

const metricColumns = [
	['visits', 'visits'], ['started_visits', 'started'],
	['response_met_pct', 'response met %'], ['median_response', 'median response'],
	['p90_response', 'p90 response'], ['completed_visits', 'completed'],
	['resolution_met_pct', 'resolution met %'], ['first_time_fix_pct', 'first-time fix %'],
];

function section(id, title, text, tableHtml) {
	return `<section id="${id}">
<h2>${html(title)}</h2>
<p>${html(text)}</p>
<div class="pair">
<div class="chart"><canvas id="chart-${id}" role="img" aria-label="${html(title)}"></canvas></div>
<div class="numbers">${tableHtml}</div>
</div>
</section>`;
}

const sections = [
	section('tiers', 'Service levels by tier',
		'Percent of started visits that met the tier\'s response target, of completed visits that met its resolution target, and of completed visits that were first-time fixes (service_level_metrics).',
		table('service_level_metrics', [['service_tier', 'tier'], ...metricColumns], data.tiers)),
	section('trend', 'Monthly trend: response target met',
		'Percent of started visits that met the tier\'s response target, per tier and month of the visits\' creation (service_level_metrics_monthly).',
		table('service_level_metrics_monthly', [['month', 'month'], ['service_tier', 'tier'],
			['visits', 'visits'], ['started_visits', 'started'], ['response_met_pct', 'response met %'],
			['median_response', 'median response'], ['p90_response', 'p90 response']], data.monthly)),
	section('ftf', 'Monthly trend: first-time fix',
		'Percent of completed visits after which the same customer had no other visit created within 30 days, per tier and month (service_level_metrics_monthly).',
		table('service_level_metrics_monthly', [['month', 'month'], ['service_tier', 'tier'],
			['completed_visits', 'completed'], ['resolution_met_pct', 'resolution met %'],
			['first_time_fix_pct', 'first-time fix %']], data.monthly)),
	section('technicians', 'Technician performance',
		'Visits and completed visits per technician (bars, left axis) and completion rate in percent (line, right axis) (technician_performance).',
		table('technician_performance', [['name', 'technician'], ['is_active', 'active'],
			['total_visits', 'visits'], ['completed_visits', 'completed'],
			['completion_rate', 'completion rate %'], ['avg_hours_per_visit', 'average hours']],
			data.technicians)),
];

// The charts' configuration: which view column goes into which chart.
// Everything is drawn by Chart.js; animation is off so that a chart is
// complete when it has rendered once (printing, screenshots, the test).
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ame: service levels and technicians</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
.meta { color: #666; margin-top: 0; }
section { margin: 1.5rem 0 2rem; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.pair { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.chart { position: relative; flex: 1 1 440px; max-width: 560px; height: 320px; }
.numbers { flex: 1 1 420px; min-width: 0; overflow-x: auto; max-height: 360px; overflow-y: auto; }
table { border-collapse: collapse; font-size: 0.8rem; }
caption { text-align: left; font-family: monospace; color: #555; padding-bottom: 0.2rem; }
th, td { border: 1px solid #ddd; padding: 0.15rem 0.45rem; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
td.null { color: #999; text-align: center; }
footer { color: #666; font-size: 0.8rem; }
</style>
</head>
<body>
<h1>ame: service levels and technicians</h1>
<p class="meta">Database ${html(data.database)}, ame ${html(data.extversion)}, generated ${html(data.generated_at)} by scripts/report.sh.</p>
${sections.join('\n')}
<footer>Charts drawn by Chart.js ${html(libVersion)} (MIT licence), inlined from npm's chart.js package.</footer>
<pre id="ame-rendered" hidden></pre>
<script type="application/json" id="ame-data">${scriptJson(data)}</script>
<script>
${lib}
</script>
<script>
(function () {
	'use strict';
	var data = JSON.parse(document.getElementById('ame-data').textContent);
	var tierOrder = data.tiers.map(function (r) { return r.service_tier; });
	var months = [];
	data.monthly.forEach(function (r) { if (months.indexOf(r.month) < 0) months.push(r.month); });
	months.sort();
	function monthly(column) {
		return tierOrder.map(function (tier) {
			return {
				label: tier,
				data: months.map(function (m) {
					var row = data.monthly.find(function (r) { return r.month === m && r.service_tier === tier; });
					return row ? row[column] : null;
				}),
				spanGaps: true
			};
		});
	}
	var percentAxis = { min: 0, max: 100, title: { display: true, text: '%' } };
	var configs = {
		tiers: {
			type: 'bar',
			data: {
				labels: tierOrder,
				datasets: [
					{ label: 'response met %', data: data.tiers.map(function (r) { return r.response_met_pct; }) },
					{ label: 'resolution met %', data: data.tiers.map(function (r) { return r.resolution_met_pct; }) },
					{ label: 'first-time fix %', data: data.tiers.map(function (r) { return r.first_time_fix_pct; }) }
				]
			},
			options: { scales: { y: percentAxis } }
		},
		trend: {
			type: 'line',
			data: { labels: months, datasets: monthly('response_met_pct') },
			options: { scales: { y: percentAxis } }
		},
		ftf: {
			type: 'line',
			data: { labels: months, datasets: monthly('first_time_fix_pct') },
			options: { scales: { y: percentAxis } }
		},
		technicians: {
			type: 'bar',
			data: {
				labels: data.technicians.map(function (r) { return r.name; }),
				datasets: [
					{ label: 'visits', data: data.technicians.map(function (r) { return r.total_visits; }), yAxisID: 'y' },
					{ label: 'completed', data: data.technicians.map(function (r) { return r.completed_visits; }), yAxisID: 'y' },
					{ type: 'line', label: 'completion rate %', data: data.technicians.map(function (r) { return r.completion_rate; }), yAxisID: 'y1' }
				]
			},
			options: {
				scales: {
					// long names are cut on the axis (the table has them whole)
					x: { ticks: { callback: function (value) {
						var label = String(this.getLabelForValue(value));
						return label.length > 24 ? label.slice(0, 23) + '\u2026' : label;
					} } },
					y: { beginAtZero: true, title: { display: true, text: 'visits' } },
					y1: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: '%' } }
				}
			}
		}
	};
	// what each chart holds once drawn, read back from Chart.js
	function report() {
		var charts = [];
		document.querySelectorAll('canvas').forEach(function (canvas) {
			var chart = Chart.getChart(canvas);
			if (!chart) return;
			charts.push({
				id: canvas.id.replace(/^chart-/, ''),
				width: chart.width, height: chart.height,
				labels: chart.data.labels,
				datasets: chart.data.datasets.map(function (d) { return { label: d.label, data: d.data }; })
			});
		});
		document.getElementById('ame-rendered').textContent = JSON.stringify({ charts: charts });
	}
	Chart.register({ id: 'ameRendered', afterRender: report });
	Chart.defaults.animation = false;
	Chart.defaults.maintainAspectRatio = false;
	Object.keys(configs).forEach(function (id) {
		new Chart(document.getElementById('chart-' + id), configs[id]);
	});
})();
</script>
</body>
</html>
`;

fs.writeFileSync(out, page);
