#!/usr/bin/perl
# test/reference.t -- docs/reference.md lists exactly what ame is: checked
# both ways against a fresh install (in ame_tap, with pg_cron) and against
# the sources.  Compared: the extension's functions (the whole signature
# as pg_get_function_arguments and pg_get_function_result show it, and
# whether PUBLIC may call it), tables, views, sequences, the triggers and
# named constraints on its tables, its event triggers, its ame.* settings (type, default,
# context from pg_settings once the library is loaded), the publication,
# the pg_cron jobs, and every SQLSTATE the sources raise (errcode(ERRCODE_x)
# in src/*.c; RAISE ... USING ERRCODE, RAISE SQLSTATE and a RAISE
# EXCEPTION without one, P0001, in src/sql/*.sql).  Every link on the page
# must reach an existing file and heading (GitHub's anchor rules), and the
# page a row links to must mention the row's object.
#
# The page's format: under each "## " heading, one table row per object,
# "| `key` | ... | [page](file.md#anchor) |", key in the first cell in
# backticks (a function's key is "name(arguments) RETURNS result"), no "|"
# inside a cell; the row's last link is the page that explains the object.
# Adding an object means adding its row there.  Leaves ame_tap empty again.
# TAP, run by prove inside a throwaway cluster (scripts/test.sh).
use strict;
use warnings;
use utf8;
use open qw(:std :encoding(UTF-8));
use File::Temp qw(tempfile);

my $page = 'docs/reference.md';
my @checks;		# [ok, name, diagnostics]
sub check { my ($cond, $what, @diag) = @_; push @checks, [$cond ? 1 : 0, $what, $cond ? [] : [@diag]]; }
sub slurp { my ($f) = @_; open(my $fh, '<:encoding(UTF-8)', $f) or return undef; local $/; my $s = <$fh>; close $fh; return $s; }
sub bail { print "Bail out! @_\n"; exit 1; }

sub psql
{
	my ($sql) = @_;
	# from a file, so that each statement is run and shown on every psql
	my ($tmp, $file) = tempfile('ame-reference-XXXXXX', TMPDIR => 1, UNLINK => 1);
	print $tmp $sql;
	close $tmp;
	open(my $fh, '-|', 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', 'ame_tap', '-f', $file)
		or bail("cannot run psql");
	my @out = <$fh>;
	close $fh or bail("psql failed: $sql");
	chomp @out;
	return @out;
}
sub fresh { system("dropdb --force ame_tap >/dev/null 2>&1; createdb ame_tap") == 0 or bail("could not recreate ame_tap"); }

# --- the page: rows per section, and its links
my $text = slurp($page) // bail("$page is missing");
my (%rows, %rowlinks, %dups, @links, $section);	# $rows{section}{key} = [cells]
for my $line (split /\n/, $text)
{
	push @links, $1 while $line =~ /\]\(([^)\s]+)\)/g;
	if ($line =~ /^##\s+(.*?)\s*$/) { $section = $1; $section =~ s/`//g; next; }
	next unless defined $section && $line =~ /^\|\s*`([^`]+)`\s*\|/;
	my $key = $1;
	my @cells = map { s/^\s+|\s+$//gr } split /\|/, $line;
	shift @cells;
	$dups{$section}{$key}++ if exists $rows{$section}{$key};
	$rows{$section}{$key} = \@cells;
	my @l = $line =~ /\]\(([^)\s]+)\)/g;
	$rowlinks{$section}{$key} = $l[-1];
}
my %section_of = (
	function => 'Functions', table => 'Tables', view => 'Views', sequence => 'Sequences',
	trigger => 'Triggers', 'event trigger' => 'Event triggers',
	constraint => 'Constraints', setting => 'Settings',
	publication => 'Publication', job => 'Scheduled jobs',
	sqlstate => 'Errors raised by ame', pgstate => 'Errors PostgreSQL raises on ame\'s objects');
for my $kind (sort keys %section_of)
{
	check(exists $rows{$section_of{$kind}}, "$page has a section \"## $section_of{$kind}\" with rows");
}

# --- GitHub's anchors of a markdown file: headings outside code fences,
# lowercased, punctuation dropped, spaces as hyphens, repeats numbered
my %anchor_cache;
sub anchors
{
	my ($file) = @_;
	return $anchor_cache{$file} if exists $anchor_cache{$file};
	my $md = slurp($file);
	return $anchor_cache{$file} = undef unless defined $md;
	my (%seen, %set, $fence);
	for my $line (split /\n/, $md)
	{
		if ($line =~ /^\s*(```|~~~)/) { $fence = !$fence; next; }
		next if $fence || $line !~ /^#{1,6}\s+(.*?)\s*#*\s*$/;
		my $h = $1;
		$h =~ s/\[([^\]]*)\]\([^)]*\)/$1/g;
		$h = lc $h;
		$h =~ s/[^\w\- ]//g;
		$h =~ s/ /-/g;
		my $a = $seen{$h}++ ? "$h-" . ($seen{$h} - 1) : $h;
		$set{$a} = 1;
	}
	return $anchor_cache{$file} = \%set;
}
my %link_done;
for my $link (@links)
{
	next if $link =~ m{^[a-z]+://} || $link_done{$link}++;
	my ($file, $frag) = $link =~ /^([^#]*)(?:#(.*))?$/;
	my $path = $file eq '' ? $page : "docs/$file";
	my $set = anchors($path);
	check(defined $set && (!defined $frag || $set->{$frag}), "link $link reaches an existing file and heading",
		  defined $set ? "no heading of $path has the anchor #" . ($frag // "") : "no file $path");
}

# the linked page mentions the object (for a function, its name)
sub mentions
{
	my ($section, $key, $name) = @_;
	my $link = $rowlinks{$section}{$key};
	return "the row has no link" unless defined $link;
	my ($file) = $link =~ /^([^#]*)/;
	my $md = slurp($file eq '' ? $page : "docs/$file");
	return "no file docs/$file" unless defined $md;
	return index($md, $name) >= 0 ? '' : "docs/$file does not mention $name";
}

# --- the catalog of a fresh install
fresh();
psql("SET client_min_messages = warning;\nCREATE EXTENSION pg_cron;\nCREATE EXTENSION ame;\n");
my @condnames = map { $_->[1] =~ s/`//gr } map { values %{ $rows{$section_of{$_}} // {} } } qw(sqlstate pgstate);
my $condlist = join(',', map { "'" . ($_ =~ s/'/''/gr) . "'" } @condnames) || "NULL";
my $catalog_sql = <<"SQL";
CREATE FUNCTION pg_temp.code_of(cond text) RETURNS text LANGUAGE plpgsql AS \$f\$
BEGIN RAISE EXCEPTION USING ERRCODE = cond; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END \$f\$;
WITH m AS (
	SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'ame'
), rel AS (SELECT c.* FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid)
SELECT x FROM (
	-- a procedure has no result: its key is the name and arguments
	SELECT 'function|' || p.proname || '(' || pg_get_function_arguments(p.oid) || ')'
		|| coalesce(' RETURNS ' || pg_get_function_result(p.oid), '') || '|' || p.proname || '|'
		|| CASE WHEN has_function_privilege('public', p.oid, 'EXECUTE') THEN 'PUBLIC' ELSE '-' END
	FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	UNION ALL
	SELECT CASE WHEN relkind IN ('r', 'p') THEN 'table' WHEN relkind IN ('v', 'm') THEN 'view'
			WHEN relkind = 'S' THEN 'sequence' ELSE 'relkind ' || relkind::text END || '|' || relname || '|' || relname
	FROM rel
	UNION ALL
	-- PostgreSQL 17 and later also record a table's row type and its
	-- array type as members: they come with the table
	SELECT 'other member|' || pg_describe_object(classid, objid, 0) FROM m
	WHERE classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_event_trigger'::regclass)
	  AND NOT (classid = 'pg_type'::regclass AND EXISTS (
		SELECT FROM pg_type t LEFT JOIN pg_type elem ON elem.oid = t.typelem
		WHERE t.oid = m.objid AND (t.typrelid <> 0 OR coalesce(elem.typrelid, 0) <> 0)))
	UNION ALL
	SELECT 'trigger|' || t.tgname || ' ON ' || rel.relname || '|' || t.tgname || '|`' || p.proname || '()`'
	FROM rel JOIN pg_trigger t ON t.tgrelid = rel.oid AND NOT t.tgisinternal JOIN pg_proc p ON p.oid = t.tgfoid
	UNION ALL
	SELECT 'event trigger|' || ev.evtname || '|' || ev.evtname || '|`' || p.proname || '()`'
	FROM m JOIN pg_event_trigger ev ON m.classid = 'pg_event_trigger'::regclass AND ev.oid = m.objid
	JOIN pg_proc p ON p.oid = ev.evtfoid
	UNION ALL
	SELECT 'constraint|' || co.conname || '|' || co.conname || '|`' || rel.relname || '`|'
		|| CASE co.contype WHEN 'c' THEN '23514' WHEN 'f' THEN '23503' WHEN 'u' THEN '23505'
			WHEN 'p' THEN '23505' WHEN 'x' THEN '23P01' ELSE co.contype::text END
	FROM rel JOIN pg_constraint co ON co.conrelid = rel.oid AND co.contype <> 'n'
	UNION ALL
	SELECT 'publication|' || pubname || '|' || pubname FROM pg_publication
	UNION ALL
	SELECT 'job|' || jobname || '|' || jobname FROM cron.job
	UNION ALL
	SELECT 'condition|' || n || '|' || pg_temp.code_of(n) FROM unnest(ARRAY[$condlist]::text[]) n
	UNION ALL
	SELECT 'server_version_num|' || current_setting('server_version_num')
) s(x) ORDER BY 1;
LOAD 'ame';
SELECT 'setting|' || name || '|' || name || '|' || vartype || '|' || boot_val || '|' || context
FROM pg_settings WHERE name LIKE 'ame.%' ORDER BY name;
SQL
my @catalog = psql($catalog_sql);
fresh();

my (%cat, %cond_code, $version_num);	# $cat{kind}{key} = [fields]
for (@catalog)
{
	my ($kind, $key, @f) = split /\|/, $_, -1;
	if ($kind eq 'condition') { $cond_code{$key} = $f[0]; next; }
	if ($kind eq 'server_version_num') { $version_num = $key; next; }
	$cat{$kind}{$key} = \@f;
}
check(!exists $cat{$_}, "every extension member is a function, table, view or sequence",
	  "not covered by $page: " . join(', ', sort keys %{ $cat{$_} }))
	for grep { /^(other member|relkind )/ } sort keys %cat;

# --- SQLSTATEs raised in the sources
my $major = int(($version_num // 0) / 10000);
my ($pg_config) = grep { -x } ("/usr/lib/postgresql/$major/bin/pg_config");
$pg_config //= 'pg_config';
chomp(my $incdir = `$pg_config --includedir-server`);
my %errcode;
for (split /\n/, slurp("$incdir/utils/errcodes.h") // bail("no $incdir/utils/errcodes.h"))
{
	my ($name, $chars) = /^#define ERRCODE_(\w+)\s+MAKE_SQLSTATE\(([^)]*)\)/ or next;
	$errcode{$name} = join('', $chars =~ /'(.)'/g);
}
my %raised;		# code => where
for my $f (sort glob('src/*.c'))
{
	my $src = slurp($f);
	while ($src =~ /errcode\(ERRCODE_(\w+)\)/g)
	{
		my $code = $errcode{$1} // "ERRCODE_$1?";
		$raised{$code} //= $f;
	}
}
my %levels = map { $_ => 1 } qw(DEBUG LOG INFO NOTICE WARNING EXCEPTION);
for my $f (sort glob('src/sql/*.sql'))
{
	my $src = slurp($f);
	$src =~ s/--[^\n]*//g;
	while ($src =~ /^\s*RAISE\b([^;]*);/gmi)
	{
		my $stmt = $1;
		my ($level) = $stmt =~ /^\s*(\w+)/;
		$level = uc($level // '');
		next if $levels{$level} && $level ne 'EXCEPTION';
		my @codes;
		push @codes, $1 while $stmt =~ /\bERRCODE\s*=\s*'([^']+)'/gi;
		push @codes, $1 if $stmt =~ /^\s*(?:EXCEPTION\s+)?SQLSTATE\s+'(\w{5})'/i;
		push @codes, $1 if $stmt =~ /^\s*(?:EXCEPTION\s+)?(?!SQLSTATE\b|USING\b|EXCEPTION\b)([a-z_]+)\b/i
			&& !$levels{uc $1};
		push @codes, 'P0001' if !@codes && $stmt =~ /^\s*(?:EXCEPTION\b|')/i;
		for my $c (@codes)
		{
			$c = $cond_code{lc $c} // "condition $c" unless $c =~ /^[0-9A-Z]{5}$/;
			$raised{$c} //= $f;
		}
	}
}

# --- both ways, one assertion per object
sub both_ways
{
	my ($kind, $catalog, $verify) = @_;
	my $section = $section_of{$kind};
	my $listed = $rows{$section} // {};
	for my $key (sort keys %$catalog)
	{
		check(exists $listed->{$key}, "$kind $key is listed in $page ($section)",
			  "add a row for it, or correct the row's key to exactly this");
	}
	for my $key (sort keys %$listed)
	{
		my @problems = $dups{$section}{$key} ? ("listed more than once") : ();
		if (!exists $catalog->{$key})
		{
			my ($name) = $key =~ /^([^(]*)/;
			my @near = grep { /^\Q$name\E\(/ } sort keys %$catalog;
			push @problems, "no such $kind in a fresh install (or the sources)"
				. (@near ? "; the catalog has: " . join('; ', @near) : '');
		}
		else
		{
			push @problems, $verify->($key, $listed->{$key}, $catalog->{$key}) if $verify;
			my $name = $catalog->{$key}[0] // $key;
			my $m = mentions($section, $key, $name);
			push @problems, $m if $m;
		}
		check(!@problems, "$section row \"$key\" is right", @problems);
	}
}

both_ways('function', $cat{function} // {}, sub {
	my ($key, $cells, $f) = @_;
	my $public = ($cells->[2] // '') =~ /^PUBLIC/ ? 'PUBLIC' : '-';
	return $public eq $f->[1] ? () : ("\"Who may call\" is \"$cells->[2]\", but PUBLIC "
		. ($f->[1] eq 'PUBLIC' ? 'may' : 'may not') . " execute it");
});
both_ways($_, $cat{$_} // {}) for qw(table view sequence publication job);
both_ways('trigger', $cat{trigger} // {}, sub {
	my ($key, $cells, $f) = @_;
	return ($cells->[1] // '') eq $f->[1] ? () : ("the function is $f->[1], not $cells->[1]");
});
both_ways('event trigger', $cat{'event trigger'} // {}, sub {
	my ($key, $cells, $f) = @_;
	return ($cells->[1] // '') eq $f->[1] ? () : ("the function is $f->[1], not $cells->[1]");
});
both_ways('constraint', $cat{constraint} // {}, sub {
	my ($key, $cells, $f) = @_;
	my @p;
	push @p, "the table is $f->[1], not $cells->[1]" if ($cells->[1] // '') ne $f->[1];
	push @p, "a violation is $f->[2], not $cells->[2]" if ($cells->[2] // '') ne $f->[2];
	return @p;
});
both_ways('setting', $cat{setting} // {}, sub {
	my ($key, $cells, $f) = @_;
	my ($type, $boot, $context) = @$f[1, 2, 3];
	my @p;
	push @p, "the type is $type, not \"$cells->[1]\"" if ($cells->[1] // '') !~ /^\Q$type\E\b/;
	my $default = ($cells->[2] // '') =~ s/`//gr;
	push @p, "the default is \"$boot\", not \"$default\""
		if $default ne ($boot eq '' ? '(empty)' : $boot);
	push @p, "the context is $context, not \"$cells->[3]\"" if ($cells->[3] // '') ne $context;
	return @p;
});
my %raised_cat = map { $_ => [$_, $raised{$_}] } keys %raised;
both_ways('sqlstate', \%raised_cat, sub {
	my ($key, $cells) = @_;
	my $cond = ($cells->[1] // '') =~ s/`//gr;
	my $code = $cond_code{$cond} // '?';
	return $code eq $key ? () : ("the condition name \"$cond\" is SQLSTATE $code");
});
for my $key (sort keys %{ $rows{$section_of{pgstate}} // {} })
{
	my $cells = $rows{$section_of{pgstate}}{$key};
	my $cond = ($cells->[1] // '') =~ s/`//gr;
	my $code = $cond_code{$cond} // '?';
	my $m = mentions($section_of{pgstate}, $key, $key);
	$m ||= 'listed more than once' if $dups{$section_of{pgstate}}{$key};
	check($code eq $key && !$m, "$section_of{pgstate} row \"$key\" is right",
		  grep { $_ } ($code eq $key ? '' : "the condition name \"$cond\" is SQLSTATE $code"), $m);
}

# --- report
print "1..", scalar(@checks), "\n";
my $n = 0;
for my $c (@checks)
{
	$n++;
	print(($c->[0] ? "ok" : "not ok"), " $n - $c->[1]\n");
	print "#   $_\n" for @{ $c->[2] };
}
exit((grep { !$_->[0] } @checks) ? 1 : 0);
