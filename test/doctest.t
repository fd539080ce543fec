#!/usr/bin/perl
# test/doctest.t -- every SQL example in README.md and docs/*.md runs, and
# prints what the page shows.  TAP output, run by prove inside the
# throwaway cluster of scripts/test.sh (a superuser; pg_cron preloaded for
# database ame_tap).
#
# The convention (docs/install.md, "How the examples are tested"):
# - An example is a ```sql fenced block.  Shell stays in ```sh, signatures
#   and configuration files in plain ``` fences; those are not run.
# - Each page runs in a new database (ame_tap, dropped and created again for
#   every page, since pg_cron can live only there), all of its ```sql blocks
#   in page order in ONE psql session (psql -X -q, so no command tags;
#   \pset footer off, so no "(N rows)"; PGTZ=UTC; default VERBOSITY).
#   Variables set with \gset, SET and roles carry over from block to block.
# - A page that does not run CREATE EXTENSION ame in one of its blocks gets
#   it from the runner before its first block; the page says so, and shows
#   any other prerequisite (roles, sample data) in a block of its own.
# - What psql prints for a statement is shown right under it, inside the
#   block, as comment lines: "-- " followed by the output line ("--" alone
#   for an empty line).  A run of such lines directly under a line of SQL
#   (no blank line between) is output; a comment after a blank line, or at
#   the end of a line of SQL, is only a comment.  SQL with no output lines
#   under it must print nothing.  Errors, NOTICEs and HINTs are output too.
# - Output is compared line by line, trailing blanks and leading/trailing
#   empty lines ignored.  The one placeholder is "…" in a shown output line:
#   it matches any run of characters within one field (no "|").
# - Each statement group (the SQL up to an output run, or up to the end of
#   the block) is one assertion; a mismatch prints a diff.
# - Skipped, each printed as "ok N # skip" with its reason: the pages in
#   %skip_page and the blocks in @skip_block below, nothing else.
# Run alone: prove test/doctest.t in a cluster like scripts/test.sh's.
use strict;
use warnings;
use utf8;
use File::Temp qw(tempfile);
use FindBin;
binmode STDOUT, ":encoding(UTF-8)";

chdir("$FindBin::Bin/..") or die "chdir: $!";
$ENV{PGTZ} = 'UTC';
$ENV{LC_MESSAGES} = 'C';
my $db = 'ame_tap';

# Pages and blocks not run here, and why.  A block is named by its page
# and the start of its first non-blank line.
my %skip_page = (
	'docs/production.md' =>
		'test/plain/production.t runs these blocks word for word on a pg_createcluster server '
		. '(database fieldservice named by cron.database_name, real pg_cron runs, a restart); '
		. 'this throwaway cluster has another cron.database_name',
);
my @skip_block = (
	# [page, first SQL line (prefix), reason]
	['docs/audit.md', '-- on the subscriber',
		'CREATE SUBSCRIPTION needs a second server to connect to'],
	['docs/scale.md', '-- on the standby',
		'needs a hot standby; test/plain/standby.t runs these steps on one'],
	['docs/scale.md', '-- on the subscriber',
		'needs a publisher to subscribe to; test/plain/subscriber.t runs these steps on one'],
);

my @pages = ('README.md', sort glob('docs/*.md'));

# parse: a list of units {page, line, sql, expected, skip}
my @units;
for my $page (@pages) {
	open(my $fh, '<:encoding(UTF-8)', $page) or die "$page: $!";
	my @lines = <$fh>;
	close $fh;
	chomp @lines;
	my ($in, $fence, @block, $start) = (0, '');
	for my $i (0 .. $#lines) {
		my $l = $lines[$i];
		if (!$in && $l =~ /^```(\S*)\s*$/) {
			$in = 1; $fence = $1; @block = (); $start = $i + 2;
			next;
		}
		if ($in && $l =~ /^```\s*$/) {
			$in = 0;
			next unless $fence eq 'sql';
			push @units, block_units($page, $start, @block);
			next;
		}
		push @block, $l if $in;
	}
	die "$page: unclosed fence\n" if $in;
}

sub block_units {
	my ($page, $start, @block) = @_;
	my $first = (grep { /\S/ } @block)[0] // '';
	my $reason = $skip_page{$page};
	for my $s (@skip_block) {
		$reason = $s->[2] if $s->[0] eq $page && index($first, $s->[1]) == 0;
	}
	return ({ page => $page, line => $start, skip => $reason, sql => $first })
		if defined $reason;

	my @u;
	my $cur = { page => $page, line => $start, sql => '', expected => undef };
	my ($prev, $inout) = ('', 0);
	for my $k (0 .. $#block) {
		my $l = $block[$k];
		my $isout = $l =~ /^--( |$)/ && ($inout || ($prev =~ /\S/ && $prev !~ /^\s*--/));
		if ($isout) {
			(my $o = $l) =~ s/^-- ?//;
			push @{ $cur->{expected} }, $o;
			$inout = 1;
		} else {
			if ($inout) {
				push @u, $cur;
				$cur = { page => $page, line => $start + $k, sql => '', expected => undef };
				$inout = 0;
			}
			$cur->{line} = $start + $k
				if $cur->{sql} !~ /^(?!\s*--)\s*\S/m && $l =~ /\S/ && $l !~ /^\s*--/;
			$cur->{sql} .= "$l\n";
		}
		$prev = $l;
	}
	push @u, $cur if $inout || $cur->{sql} =~ /^(?!\s*--)\s*\S/m;
	# a block must not end inside a statement: the next block would finish it
	my ($last) = grep { /\S/ && !/^\s*--/ } reverse @block;
	if (defined $last && $last !~ /;\s*(--.*)?$/ && $last !~ /^\s*\\/ && $last !~ /\\g\w*(\s.*)?$/) {
		push @u, { page => $page, line => $start, bad => "block ends inside a statement: $last" };
	}
	return @u;
}

printf "1..%d\n", scalar @units;
my $n = 0;
my $marker = '@@doctest-end@@';

sub psql {
	my ($args, $input) = @_;
	my ($fh, $file) = tempfile('/tmp/ame-doctest.XXXXXX', UNLINK => 1);
	binmode $fh, ':encoding(UTF-8)';
	print $fh $input;
	close $fh;
	my $out = `psql -X -q $args <'$file' 2>&1`;
	utf8::decode($out);
	return $out;
}

sub fresh_db {
	system("dropdb --if-exists --force $db >/dev/null 2>&1; createdb $db") == 0
		or bail("could not recreate $db");
}

sub bail { print "Bail out! $_[0]\n"; exit 255; }

sub roles {
	return split /\n/, psql('-At postgres', "SELECT rolname FROM pg_roles ORDER BY 1;\n");
}

sub matches {
	my ($exp, $got) = @_;
	return 0 unless @$exp == @$got;
	for my $i (0 .. $#$exp) {
		my $re = join('[^|]*?', map { quotemeta } split(/…/, $exp->[$i], -1));
		return 0 unless $got->[$i] =~ /^$re$/;
	}
	return 1;
}

sub trim_lines {
	my @l = map { my $x = $_; $x =~ s/\s+$//; $x } @_;
	shift @l while @l && $l[0] eq '';
	pop @l while @l && $l[-1] eq '';
	return @l;
}

my $failed = 0;
for my $page (@pages) {
	my @pu = grep { $_->{page} eq $page } @units;
	next unless @pu;
	my @run = grep { !$_->{skip} && !$_->{bad} } @pu;
	my @got;
	my %roles = map { $_ => 1 } roles();
	if (@run) {
		fresh_db();
		my $script = "\\pset footer off\n";
		$script .= "CREATE EXTENSION ame;\n"
			unless grep { $_->{sql} =~ /^\s*CREATE EXTENSION ame\b/mi } @run;
		$script = "SET client_min_messages = warning;\n$script" . "RESET client_min_messages;\n";
		$script .= "\\echo $marker\n";
		$script .= "$_->{sql}\n\\echo $marker\n" for @run;
		my $out = psql($db, $script);
		@got = split(/^\Q$marker\E\n?/m, $out, -1);
		shift @got;	# the runner's own prologue
		# roles are the cluster's: drop those the page made, with its database
		system("dropdb --force $db") == 0 or bail("could not drop $db");
		for my $r (grep { !$roles{$_} } roles()) {
			psql('postgres', qq{DROP ROLE "$r";\n}) eq '' or bail("could not drop role $r");
		}
	}
	for my $u (@pu) {
		$n++;
		my $name = "$u->{page}:$u->{line}";
		if ($u->{skip}) {
			print "ok $n # skip $name: $u->{skip}\n";
			next;
		}
		if ($u->{bad}) {
			print "not ok $n - $name: $u->{bad}\n";
			$failed++;
			next;
		}
		my ($first) = grep { /\S/ && !/^\s*--/ } split /\n/, $u->{sql};
		$first =~ s/^\s+//;
		$name .= ' ' . substr($first, 0, 60);
		my $g = shift @got;
		my @exp = trim_lines(@{ $u->{expected} // [] });
		my @gl = trim_lines(split /\n/, $g // '(psql died before this statement)');
		if (matches(\@exp, \@gl)) {
			print "ok $n - $name\n";
		} else {
			$failed++;
			print "not ok $n - $name\n";
			print "#   --- shown on the page\n#   +++ printed by psql\n";
			my ($ef, $efile) = tempfile(UNLINK => 1);
			my ($gf, $gfile) = tempfile(UNLINK => 1);
			binmode $_, ':encoding(UTF-8)' for $ef, $gf;
			print $ef map { "$_\n" } @exp;
			print $gf map { "$_\n" } @gl;
			close $ef; close $gf;
			my $d = `diff -U9999 '$efile' '$gfile'`;
			utf8::decode($d);
			$d =~ s/\A---.*\n\+\+\+.*\n//;
			print map { "#   $_\n" } split /\n/, $d;
		}
	}
}
fresh_db();	# leave ame_tap empty, as the other TAP scripts do
exit($failed ? 1 : 0);
