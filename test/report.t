#!/bin/bash
# test/report.t -- report.html (scripts/report.sh) as a browser shows it:
# the page is generated from the sample data plus a technician whose name is
# an HTML injection, opened in headless Chromium, and every chart must hold
# exactly the values the views return (Chart.getChart(canvas).data, which the
# page writes into <pre id="ame-rendered"> once the charts have rendered).
# The page, its DOM as rendered and a screenshot are kept in the log folder
# of scripts/test.sh ($AME_TEST_LOGS/report), or in a folder of their own
# when run alone; the path is printed.  TAP output, run by prove inside a
# throwaway cluster (scripts/test.sh).
#
# Chromium is on the host only, not in the chroots of PostgreSQL 17 and 18:
# there (AME_CHROOT set, or AME_REPORT=0) the test is skipped, as the fuzz
# test is, and runs with the host's major.
set -u
if [ -n "${AME_CHROOT:-}" ] || [ "${AME_REPORT:-1}" = 0 ]; then
	echo "1..0 # SKIP report.html is checked with the host's major only: chromium is not in the chroots"
	exit 0
fi
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; failed=$((failed+1)); fi; }
db=ame_report
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

echo "1..14"
logdir=${AME_TEST_LOGS:-$(mktemp -d /tmp/ame-report-test.XXXXXX)}/report
rm -rf "$logdir"; mkdir -p "$logdir"
echo "# the page, its rendered DOM and the screenshot: $logdir"
page=$logdir/report.html

dropdb --if-exists $db >/dev/null 2>&1; dropdb --if-exists ${db}_none >/dev/null 2>&1
createdb $db && createdb ${db}_none || { echo "Bail out! createdb failed"; exit 1; }
# ame in a schema of its own, the report made with a search_path that
# does not name it
q -c "CREATE SCHEMA fsm; CREATE EXTENSION ame SCHEMA fsm" 2>/dev/null
PGOPTIONS='-c search_path=fsm' psql -X -q -v ON_ERROR_STOP=1 -d $db -f demo/sample_data.sql >/dev/null \
	|| { echo "Bail out! sample data failed"; exit 1; }
hostile='</script><b id=pwned>x</b><script>document.title='"'pwned'"'</script> & "Ann" O'"'"'Neil'
q -v name="$hostile" <<'SQL' >/dev/null || { echo "Bail out! hostile technician failed"; exit 1; }
INSERT INTO fsm.ame_technicians (name, email) VALUES (:'name', 'ann@ame.example');
-- created in a month of its own, which no other tier has: the trend charts
-- get a month with gaps (NULL) for the other two tiers
INSERT INTO fsm.ame_visits (customer_id, technician_id, status, current_phase, scheduled_date,
                            actual_start_time, completed_at, created_at)
SELECT (SELECT id FROM fsm.ame_customers ORDER BY customer_number LIMIT 1),
       (SELECT id FROM fsm.ame_technicians WHERE name = :'name'),
       'completed', 4, date '2020-11-02', timestamptz '2020-11-02 08:00+00',
       timestamptz '2020-11-02 11:30+00', timestamptz '2020-11-01 07:00+00';
SQL
ok "$(q -c "SELECT count(*) FILTER (WHERE month = date '2020-11-01') || ' ' || (count(DISTINCT month) > 1)
            FROM fsm.service_level_metrics_monthly")" \
	"1 true" "the monthly view has several months, one of them for one tier only"

PGDATABASE=$db PGOPTIONS='-c search_path=nowhere' bash scripts/report.sh "$page" >"$logdir/report.log" 2>&1
ok "$? $(cat "$logdir/report.log")" "0 report: wrote $page" \
	"scripts/report.sh writes the page, with a search_path that does not name ame's schema"
PGDATABASE=${db}_none bash scripts/report.sh "$logdir/none.html" >"$logdir/none.log" 2>&1
ok "$? $(cat "$logdir/none.log") $([ -e "$logdir/none.html" ] && echo written)" \
	"1 report: ame is not installed in this database " \
	"scripts/report.sh refuses a database without ame and writes nothing"

# nothing outside the file: no src= or href= to load, and the library inline
ok "$(grep -cE '<(script|link|img|iframe)[^>]* (src|href)=' "$page") $(grep -c 'Chart.js v[0-9]' "$page")" "0 1" \
	"the page loads nothing from elsewhere: Chart.js is inlined (it works from file:// offline)"
ok "$(grep -oi '</script' "$page" | wc -l) $(grep -ci '<b id=pwned' "$page")" "3 0" \
	"the hostile technician name is not in the page as markup (three </script> ending the page's own three scripts)"

# Chromium: the DOM once the charts have rendered, and a screenshot
chromium_run() {
	local url=$1; shift
	chromium --headless $([ "$(id -u)" -eq 0 ] && echo --no-sandbox) --disable-gpu \
		--user-data-dir="$logdir/chromium-profile" --hide-scrollbars --window-size=1600,2000 \
		--virtual-time-budget=10000 "$@" "file://$url" 2>>"$logdir/chromium.log"
}
# what the charts hold, from a DOM dump (a text node: &lt; &gt; &amp; &nbsp;)
rendered() {
	sed -n 's/.*<pre id="ame-rendered" hidden="">\([^<]*\)<\/pre>.*/\1/p' "$1" |
		sed 's/&lt;/</g; s/&gt;/>/g; s/&nbsp;/\xc2\xa0/g; s/&amp;/\&/g'
}
chromium_run "$page" --dump-dom >"$logdir/report.dom.html"
rendered "$logdir/report.dom.html" >"$logdir/rendered.json"
[ -s "$logdir/rendered.json" ] || echo "# no rendered charts in $logdir/report.dom.html (see $logdir/chromium.log)"
# every query below reads the rendered charts as :'r'
qr() { local f=$1; shift; q -v r="$(cat "$f")" "$@"; }
ok "$(qr "$logdir/rendered.json" <<'SQL'
SELECT string_agg(c->>'id' || CASE WHEN (c->>'width')::numeric > 0 AND (c->>'height')::numeric > 0
                                    THEN '' ELSE ' (not drawn)' END, ' ' ORDER BY i)
FROM jsonb_array_elements(:'r'::jsonb->'charts') WITH ORDINALITY AS x (c, i)
SQL
)" "tiers trend ftf technicians" "Chromium renders the four charts, each with a size"

# (chart, x label, series, value) of each chart, and of the views; the
# monthly charts have a point for every tier and month, null where the view
# has no row.  Prints what differs, both ways, or nothing.
difference() {		# rendered.json chart-id
	qr "$1" -v chart="$2" 2>&1 <<'SQL'
WITH shown AS (
	SELECT c->'labels'->>(v.i::int - 1) AS x, d->>'label' AS series, v.val AS value
	FROM jsonb_array_elements(:'r'::jsonb->'charts') AS c,
		 jsonb_array_elements(c->'datasets') AS d,
		 jsonb_array_elements(d->'data') WITH ORDINALITY AS v (val, i)
	WHERE c->>'id' = :'chart'),
months AS (SELECT DISTINCT to_char(month, 'YYYY-MM-DD') AS x, month FROM fsm.service_level_metrics_monthly),
expected (x, series, value) AS (
	SELECT service_tier, s.series, s.value
	FROM fsm.service_level_metrics m,
		 LATERAL (VALUES ('response met %', m.response_met_pct), ('resolution met %', m.resolution_met_pct),
						 ('first-time fix %', m.first_time_fix_pct)) AS s (series, value)
	WHERE :'chart' = 'tiers'
	UNION ALL
	SELECT mo.x, t.service_tier, CASE :'chart' WHEN 'trend' THEN m.response_met_pct ELSE m.first_time_fix_pct END
	FROM months mo CROSS JOIN fsm.service_level_metrics t
		 LEFT JOIN fsm.service_level_metrics_monthly m ON m.month = mo.month AND m.service_tier = t.service_tier
	WHERE :'chart' IN ('trend', 'ftf')
	UNION ALL
	SELECT p.name, s.series, s.value
	FROM fsm.technician_performance p,
		 LATERAL (VALUES ('visits', p.total_visits::numeric), ('completed', p.completed_visits::numeric),
						 ('completion rate %', p.completion_rate)) AS s (series, value)
	WHERE :'chart' = 'technicians'),
want AS (SELECT x, series, COALESCE(to_jsonb(value), 'null') AS value FROM expected),
missing AS (SELECT * FROM want EXCEPT ALL SELECT * FROM shown),
extra AS (SELECT * FROM shown EXCEPT ALL SELECT * FROM want)
SELECT 'view has ' || x || ' / ' || series || ' = ' || value::text || ', chart does not' FROM missing
UNION ALL
SELECT 'chart has ' || x || ' / ' || series || ' = ' || value::text || ', view does not' FROM extra
UNION ALL
SELECT 'no values' WHERE NOT EXISTS (SELECT FROM want)
SQL
}
count_values() { q -c "SELECT $1"; }
ok "$(difference "$logdir/rendered.json" tiers)" "" \
	"the tier chart holds exactly service_level_metrics' response met, resolution met and first-time fix % ($(count_values '3 * count(*) FROM fsm.service_level_metrics') values)"
ok "$(difference "$logdir/rendered.json" trend)" "" \
	"the response trend chart holds exactly service_level_metrics_monthly's response met % per tier and month ($(count_values 'count(*) FROM fsm.service_level_metrics_monthly') rows)"
ok "$(difference "$logdir/rendered.json" ftf)" "" \
	"the first-time fix trend chart holds exactly service_level_metrics_monthly's first-time fix % per tier and month"
ok "$(difference "$logdir/rendered.json" technicians)" "" \
	"the technician chart holds exactly technician_performance's visits, completed visits and completion rate, the hostile name as its label ($(count_values 'count(*) FROM fsm.technician_performance') technicians)"

# outside the scripts' text, the rendered page has no <b> element, and its
# title is its own
ok "$(perl -0pe 's/<script\b.*?<\/script>//gs' "$logdir/report.dom.html" | grep -c '<b[ >]') $(grep -c '<title>ame: service levels and technicians</title>' "$logdir/report.dom.html")" "0 1" \
	"the hostile name injects no element and no script in the rendered page"
ok "$(grep -cF '<td>&lt;/script&gt;&lt;b id=pwned&gt;x&lt;/b&gt;&lt;script&gt;document.title='"'pwned'"'&lt;/script&gt; &amp; "Ann" O'"'"'Neil</td>' "$logdir/report.dom.html")" "1" \
	"the technician table shows the hostile name as text"

chromium_run "$page" --screenshot="$logdir/report.png" >/dev/null
ok "$(od -An -c -N4 "$logdir/report.png" 2>/dev/null | tr -d ' ') $([ "$(stat -c %s "$logdir/report.png" 2>/dev/null || echo 0)" -gt 20000 ] && echo big)" \
	"211PNG big" "Chromium saves a screenshot: $logdir/report.png"

# the comparison can fail: a page whose data says one technician has
# 999999 visits shows it, and the check names the wrong value
sed 's/"total_visits":[0-9]*/"total_visits":999999/' "$page" >"$logdir/tampered.html"
chromium_run "$logdir/tampered.html" --dump-dom >"$logdir/tampered.dom.html"
rendered "$logdir/tampered.dom.html" >"$logdir/tampered.json"
ok "$(difference "$logdir/tampered.json" technicians | grep -c ' / visits = 999999, view does not')" "1" \
	"a chart showing a wrong number fails the check (a copy of the page with one technician's visits changed)"

dropdb $db; dropdb ${db}_none
[ $failed -eq 0 ]
