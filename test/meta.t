#!/usr/bin/perl
# test/meta.t -- META.json (PGXN, meta-spec 1.0.0) is valid JSON with the
# required keys, and its versions agree with ame.control and the install
# script it names.  TAP, run by prove (scripts/test.sh).
use strict;
use warnings;
use JSON::PP;

my @required = qw(name abstract version maintainer license provides meta-spec resources tags);
print "1..", 13 + scalar(@required), "\n";
my $n = 0;
sub ok { my ($cond, $what) = @_; $n++; print(($cond ? "ok" : "not ok"), " $n - $what\n"); }

sub slurp { my ($f) = @_; open(my $fh, '<', $f) or return undef; local $/; my $s = <$fh>; close $fh; return $s; }

my $meta = eval { JSON::PP->new->decode(slurp('META.json') // '') };
ok(ref $meta eq 'HASH', 'META.json is a JSON object');
$meta //= {};
ok(exists $meta->{$_}, "META.json has \"$_\"") for @required;

my ($default) = (slurp('ame.control') // '') =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $default, 'ame.control has a default_version');
$default //= '';
ok(($meta->{version} // '') eq "$default.0", "the distribution's version is default_version $default (as semver)");
my $ame = $meta->{provides}{ame} // {};
ok(($ame->{version} // '') eq "$default.0", 'provides.ame.version is the same');
ok(($ame->{file} // '') eq "ame--$default.sql", "provides.ame.file is the install script of $default");
ok(($meta->{license} // '') eq 'postgresql', 'the license is the PostgreSQL License');
ok((slurp('LICENSE') // '') =~ /Permission to use, copy, modify, and distribute this software/,
   'LICENSE holds the PostgreSQL License');
ok(($meta->{prereqs}{runtime}{requires}{PostgreSQL} // '') =~ /^15\.0(\.0)?$/,
   'it requires PostgreSQL 15.0 or later');
ok(($meta->{'meta-spec'}{version} // '') eq '1.0.0', 'meta-spec 1.0.0');
# resources: what the spec allows, each of the right shape
my $res = ref $meta->{resources} eq 'HASH' ? $meta->{resources} : {};
ok(scalar(%$res) && !grep({ !/^(homepage|bugtracker|repository|x_\w+)$/ } keys %$res),
   'resources holds only keys the spec knows (homepage, bugtracker, repository)');
my $bt = $res->{bugtracker} // {};
ok(scalar(ref $bt eq 'HASH' && (($bt->{mailto} // '') =~ /^[^\s@]+@[^\s@]+\.[a-z]+$/ || ($bt->{web} // '') =~ m{^https?://})),
   'resources.bugtracker has a mail address or a web address');
ok(scalar(ref $meta->{tags} eq 'ARRAY' && @{$meta->{tags}} && !grep({ !defined || ref || !length } @{$meta->{tags}})),
   'tags is a non-empty list of strings');
ok((slurp('CHANGELOG.md') // '') =~ /^## \Q$default\E\b/m, "CHANGELOG.md has an entry for $default");
