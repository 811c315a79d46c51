# netdiag collection script: prints every TCP-related source of this host as a
# delimited section (format: ARCHITECTURE.md, "The collection script's output").
#
#   sh -s -- [--sockets=auto|ss|netstat|proc] [--netns=auto|all|host|NAME] [--compress|--gzip] < collect.sh
#
# The same bytes run locally and over SSH. POSIX sh only (dash, busybox ash,
# bash); tools are found on PATH: grep awk ls head (cat
# for /proc/net/tcp, xargs only past ARGS_MAX paths, id and uname only where
# /proc is unreadable), and ss or netstat, find, nsenter and
# zstd or gzip when present. It is built to be light on a sick host: a fixed
# number of commands however many sockets or processes there are, no `ss -p`
# / `netstat -p`, socket owners found by one `find -printf` (or `ls -l`) pass
# over /proc/<pid>/fd, no temporary files, and timing read from /proc/uptime by
# the `read` builtin. A step forks once: a command alone in `$(...)` is exec'd
# by the subshell itself, so none runs through a shell function there. Everything sits in main(), called on the last line, so a
# script cut short in transit never runs half, and commands read /dev/null,
# never the rest of the script on stdin.

NETDIAG_VERSION=2
M='==netdiag=='
NL='
'

# Centiseconds since boot into $cs (0 if unknown), without spawning anything.
now() {
	cs=0
	up=
	read -r up _ 2>/dev/null </proc/uptime
	case $up in
	*[!0-9.]* | '' | *.*.*) return ;;
	*.*) cs=${up%.*}${up#*.} ;;
	*) cs=${up}00 ;;
	esac
	while :; do
		case $cs in
		0?*) cs=${cs#0} ;;
		*) break ;;
		esac
	done
}

# Seconds since centisecond mark $1, as S.CC, into $T.
elapsed() {
	now
	d=$((cs - $1))
	[ "$d" -ge 0 ] || d=0
	T=$((d / 100)).$((d / 10 % 10))$((d % 10))
}

begin() {
	printf '%s begin %s\n' "$M" "$1"
	now
	t0=$cs
}

# finish NAME RC WHAT STDERR: closes a section. The newline first ends a body
# whose last line had none (cmdline data); readers drop one empty last line.
# Captured stderr follows as at most 20 `stderr` marker lines.
finish() {
	elapsed "$t0"
	if [ "$2" -eq 0 ]; then
		st=ok
	elif [ "$2" -eq 127 ]; then
		st=missing
	else
		case $4 in
		*'ermission denied'*) st=denied ;;
		*) st=failed ;;
		esac
	fi
	printf '\n'
	rest=$4
	n=0
	while [ -n "$rest" ]; do
		n=$((n + 1))
		if [ "$n" -gt 20 ]; then
			printf '%s stderr %s (more lines cut)\n' "$M" "$1"
			break
		fi
		line=${rest%%"$NL"*}
		case $rest in
		*"$NL"*) rest=${rest#*"$NL"} ;;
		*) rest= ;;
		esac
		printf '%s stderr %s %s\n' "$M" "$1" "$line"
	done
	printf '%s end %s status=%s rc=%s t=%s cmd=%s\n' "$M" "$1" "$st" "$2" "$T" "$3"
}

# step NAME WHAT CMD [ARG...]: CMD's stdout streams out as the section body,
# its stderr is captured for the end of the section. Sets $rc. CMD is a
# command, not a function, wherever it can be: the subshell then execs it.
step() {
	name=$1
	what=$2
	shift 2
	begin "$name"
	err=$("$@" 2>&1 >&3 3>&-)
	rc=$?
	case $lenient:$rc in 1:1 | 1:2 | 1:123) rc=0 ;; esac
	lenient=
	finish "$name" "$rc" "$what" "$err"
}

# lenient_step NAME WHAT CMD...: step for readers of many /proc files at once.
# A file that is not there (a process that exited since the fd map, a sysctl
# this kernel or namespace lacks) is not a failed step: grep's 1/2 and xargs'
# 123 ("some batch failed") become 0, and the messages still end the section.
lenient=
lenient_step() {
	lenient=1
	step "$@"
}

# missing NAME WHAT REASON: a section for a source that could not run at all.
missing() {
	begin "$1"
	rc=127
	finish "$1" 127 "$2" "$3"
}

# host_info: all by the `read` builtin. The uid is this shell's real one from
# its /proc/<pid>/status (`id -u` only where that is unreadable); the host's
# clock is not read here: the `procfs` grep below carries /proc/stat's btime
# (the wall clock at boot, kept in step with clock changes) and this section
# the uptime (CLOCK_BOOTTIME), whose sum the reader takes as `time`.
# It runs in the script's own shell (no step, no subshell): nothing in it
# writes to stderr but the fallbacks, whose messages are dropped.
host_info() {
	begin host
	h=
	k=
	{ read -r h </proc/sys/kernel/hostname; } 2>/dev/null || h=$(uname -n 2>/dev/null)
	{ read -r k </proc/sys/kernel/osrelease; } 2>/dev/null || k=$(uname -r 2>/dev/null)
	printf 'hostname=%s\nkernel=%s\n' "$h" "$k"
	u=
	{
		while read -r key u _; do
			[ "$key" != Uid: ] || break
			u=
		done </proc/$$/status
	} 2>/dev/null
	case $u in '' | *[!0-9]*) u=$(id -u 2>/dev/null) ;; esac
	printf 'uid=%s\n' "$u"
	up=
	{ read -r up _ </proc/uptime; } 2>/dev/null
	printf 'uptime=%s\n' "$up"
	finish host 0 'read hostname, osrelease, Uid, uptime' ''
}

# try_sockets TOOL WHAT CMD...: the first source that works wins.
try_sockets() {
	[ -z "$sockets_done" ] || return 0
	tool=$1
	shift
	if [ "$tool" = proc ]; then
		if [ ! -r /proc/net/tcp ]; then
			missing sockets "$1" "/proc/net/tcp: not readable"
			return 0
		fi
		[ -r /proc/net/tcp6 ] || set -- "$1" cat /proc/net/tcp
	elif ! command -v "$tool" >/dev/null 2>&1; then
		missing sockets "$1" "$tool: not found in PATH"
		return 0
	fi
	step sockets "$@"
	[ "$rc" -ne 0 ] || sockets_done=$tool
}

# ss -e names each socket's cgroup through the cgroup2 mount; where none is to
# be seen (cgroup v1 only, as on RHEL 8; a private /sys, as under `ip netns
# exec`) it searches /proc/mounts again for every socket and prints "Failed to
# find cgroup2 mount" each time: some 35 us a socket, 15 times `ss -tan` at
# 200,000 sockets, whatever its stderr is sent to. Then ss runs with its
# stderr dropped (its exit status kept) while the sockets are few, and past
# SS_CGROUPLESS_MAX `--sockets=auto` passes it over for the next source (whose
# unknown listen backlogs the record shows).
SS_CGROUPLESS_MAX=5000

# tcp_inuse: TCP sockets in use in this namespace (sockstat, sockstat6) into $inuse.
tcp_inuse() {
	inuse=0
	for f in /proc/net/sockstat /proc/net/sockstat6; do
		[ -r "$f" ] || continue
		while read -r proto key n _; do
			case $proto in TCP: | TCP6:) ;; *) continue ;; esac
			case $key:$n in inuse:*[!0-9]* | inuse:) ;; inuse:*) inuse=$((inuse + n)) ;; esac
		done <"$f"
	done
}

# has_cgroup2: whether ss will find a cgroup2 mount (it reads /proc/mounts):
# the usual places first (a file test, no command), then /proc/self/mounts by
# the `read` builtin while it is short (a small host; a private /sys, as under
# `ip netns exec`), by grep past MOUNTS_READ_MAX lines (dash's `read` takes a
# byte a system call: 64 lines cost about what starting grep does).
MOUNTS_READ_MAX=64
has_cgroup2() {
	[ ! -e /sys/fs/cgroup/cgroup.controllers ] || return 0
	[ ! -e /sys/fs/cgroup/unified/cgroup.controllers ] || return 0
	n=0
	{
		while read -r _ _ fstype _; do
			[ "$fstype" != cgroup2 ] || return 0
			n=$((n + 1))
			if [ "$n" -ge "$MOUNTS_READ_MAX" ]; then
				grep -q '^[^ ]* [^ ]* cgroup2 ' /proc/self/mounts
				return
			fi
		done </proc/self/mounts
	} 2>/dev/null
	return 1
}

# ss_quiet: the sockets step with ss's stderr dropped, run as a plain command
# (no capture, no subshell); a failure leaves one line saying its status.
ss_quiet() {
	begin sockets
	ss -tanoe 2>/dev/null
	rc=$?
	err=
	[ "$rc" -eq 0 ] || err="ss -tanoe: exit $rc (stderr dropped: no cgroup2 mount, ss -e would name every socket)"
	finish sockets "$rc" 'ss -tanoe (stderr dropped: no cgroup2 mount)' "$err"
	[ "$rc" -ne 0 ] || sockets_done=ss
}

# ss_quiet_in TARGET: ss_quiet in another network namespace.
ss_quiet_in() {
	nsenter --net="$1" ss -tanoe 2>/dev/null && return 0
	r=$?
	printf 'nsenter --net=%s ss -tanoe: exit %s (stderr dropped: no cgroup2 mount)\n' "$1" "$r" >&2
	return "$r"
}

ss_sockets() {
	ss_cgroupless=
	if ! command -v ss >/dev/null 2>&1 || has_cgroup2; then
		try_sockets ss 'ss -tanoe' ss -tanoe
		return 0
	fi
	ss_cgroupless=1
	[ -n "$inuse" ] || tcp_inuse
	if [ "$sockets_pref" = auto ] && [ "$inuse" -gt "$SS_CGROUPLESS_MAX" ]; then
		missing sockets 'ss -tanoe' "skipped: no cgroup2 mount, and ss -e would search /proc/mounts for each of $inuse sockets"
		return 0
	fi
	ss_quiet
}

# The fd map: one pass over the /proc/<pid>/fd directories, its stderr merged
# so that refused and vanished processes are counted: a directory of another
# user's process (not root), or links root may not read either (LSM, ptrace
# rules), make that pid "denied". One awk streams the section out:
#   S PID FD:INODE...        the socket links of a process (one line, or more if a message cut in)
#   P PID FDS SOCKETS        per process holding sockets: its open fd count
#   E TEXT                   per other message      V READABLE DENIED GONE   once, at the end
# and writes the socket holders' pids, as one "owners: PID..." line, to its
# stderr, the only part the shell keeps. Reading each fd link costs the kernel
# more than anything else the script does, so with --netns=host (or without
# the privilege to enter namespaces) only processes in the script's own
# network namespace are listed: a socket is the namespace's that created it,
# and its holders are, bar fd passing across namespaces, in that namespace.
# Otherwise the map covers every process (socket inodes are unique
# machine-wide), and serves the namespaces' sockets too.
#
# The listing is GNU find's `-printf` ("D /proc/N/fd" per directory, "TARGET
# FD" per link: an lstat and a readlink each, as `ls -l`, but no sorting,
# user names or formatting: 0.75 s of CPU against 0.86 s at 200,000 fds, and
# a lighter awk), or `ls -l` where find is missing or has no -printf
# (busybox): the find awk then prints nothing but "fallback" on its stderr,
# and the ls pass runs instead.
FD_AWK_COMMON='
function close_s() { if (open) { printf "\n"; open = 0 } }
function done_pid() { close_s(); if (pid != "" && ns > 0) { print "P", pid, nfd, ns; owners = owners " " pid } }
function pid_of(s) { return match(s, /\/proc\/[0-9]+\//) ? substr(s, RSTART + 6, RLENGTH - 7) : "?" }
'
# find: "D /proc/N/fd" per directory, "TARGET FD" per link; the target first,
# as a link find cannot read puts its message before the line (find flushes
# what it printed before complaining), not in the middle of it. Socket links
# come first (the hot rule). "D" lines and messages about /proc/N/fd come
# before any link, so what comes before either is held until one shows that
# find ran: a find refusing -printf prints only its complaint and usage. A
# directory find could not open or that vanished had its "D" line first: it
# is not counted readable, as ls (which prints no heading then) has it.
FD_FIND_AWK='
/^socket:\[/ {
	if (pid == "") next
	nfd++
	ns++
	if (!open) { printf "S %s", pid; open = 1 }
	printf " %s:%s", $NF, substr($1, 9, length($1) - 9)
	next
}
function ran() { if (!started) { started = 1; printf "%s", held } }
function unread(p) { if ((p in dirs) && !(p in shut)) { shut[p] = 1; readable-- } }
/^D \/proc\/[0-9]+\/fd$/ { ran(); done_pid(); pid = substr($2, 7, length($2) - 9); dirs[pid] = 1; nfd = 0; ns = 0; readable++; next }
/^find: .*\/proc\/[0-9]+\/fd/ {
	ran()
	p = pid_of($0)
	if (/ermission denied$/) {
		if (/\/fd'"'"'?: /) unread(p)
		if (!(p in refused)) { refused[p] = 1; denied++ }
	} else if (/o such file or directory$/) {
		if (/\/fd'"'"'?: /) unread(p)
		gone++
	} else { close_s(); print "E", $0 }
	next
}
!started { if ($0 != " null") held = held "E " $0 "\n"; next }
/^find: / { close_s(); print "E", $0; next }
{ if (pid != "") nfd++ }
END {
	if (!started) { print "fallback" > "/dev/stderr"; exit }
	done_pid(); print "V", readable + 0, denied + 0, gone + 0; print "owners:" owners > "/dev/stderr"
}
'
# ls -l: a "/proc/N/fd:" heading per directory (the leading /dev/null makes ls
# print one even for a one-directory batch), "lrwx... FD -> TARGET" per link.
FD_LS_AWK='
/^\/proc\/[0-9]+\/fd:$/ { done_pid(); pid = substr($0, 7, length($0) - 10); nfd = 0; ns = 0; readable++; next }
/^l[-r][-w]/ {
	if (pid == "") next
	nfd++
	t = $NF
	if (t ~ /^socket:\[[0-9]+\]$/) {
		ns++
		if (!open) { printf "S %s", pid; open = 1 }
		printf " %s:%s", $(NF - 2), substr(t, 9, length(t) - 9)
	}
	next
}
/^ls: .*ermission denied/ { p = pid_of($0); if (!(p in refused)) { refused[p] = 1; denied++ } next }
/^ls: .*o such file or directory/ { gone++; next }
/^total [0-9]+$/ || /^$/ || /^c.* \/dev\/null$/ { next }
{ close_s(); print "E", $0 }
END { done_pid(); print "V", readable + 0, denied + 0, gone + 0; print "owners:" owners > "/dev/stderr" }
'
# find's expression (as fd_pass writes it, for xargs batches past ARGS_MAX): a
# "D" line for each directory named, "TARGET FD" for the rest (-type d takes
# the links' type from the directory listing; %l is what lstats each link).
FD_FIND_SH='exec find "$@" "(" -type d -printf "D %p\n" ")" -o -printf "%l %f\n"'

# fd_dirs: the fd directories to list into PATHS (NPATHS words). In the
# script's own namespace: `[ A -ef B ]` (a test builtin in dash, bash and
# busybox) stats both namespace links, no command spawned; a link that cannot
# be stat'ed (refused, or its process gone) keeps its pid in (the fd pass
# counts it), and so does every pid when the script's own link is unreadable.
fd_dirs() {
	PATHS=/dev/null
	NPATHS=1
	mine=
	case $netns in
	host | denied) [ ! -e /proc/$$/ns/net ] || mine=/proc/$$/ns/net ;;
	esac
	for d in /proc/[0-9]*; do
		if [ -n "$mine" ] && [ -e "$d/ns/net" ] && ! [ "$d/ns/net" -ef "$mine" ]; then
			continue
		fi
		PATHS="$PATHS $d/fd"
		NPATHS=$((NPATHS + 1))
	done
}

# on_paths CMD...: CMD over the words of PATHS, as its arguments while they
# are few enough for any Linux ARG_MAX (128 KiB at the least), through xargs
# only past ARGS_MAX of them. Steps call CMD directly below that (a command
# the subshell execs, not this function).
ARGS_MAX=4000
on_paths() {
	if [ "$NPATHS" -le "$ARGS_MAX" ]; then
		# shellcheck disable=SC2086 # a word list of /proc paths
		"$@" $PATHS
	else
		words_lines "$PATHS" | xargs "$@"
	fi
}

# fd_pass find|ls: the listing through its awk into the section; the awk's
# stderr (the owners line, or "fallback") into $kept, the status into $rc.
# shellcheck disable=SC2086 # PATHS is a word list of /proc paths
fd_pass() {
	if [ "$1" = find ]; then
		if [ "$NPATHS" -le "$ARGS_MAX" ]; then
			kept=$(find $PATHS \( -type d -printf 'D %p\n' \) -o -printf '%l %f\n' 2>&1 |
				awk "$FD_AWK_COMMON$FD_FIND_AWK" 2>&1 >&3 3>&-)
		else
			kept=$(words_lines "$PATHS" | xargs sh -c "$FD_FIND_SH" find 2>&1 |
				awk "$FD_AWK_COMMON$FD_FIND_AWK" 2>&1 >&3 3>&-)
		fi
	elif [ "$NPATHS" -le "$ARGS_MAX" ]; then
		kept=$(ls -l $PATHS 2>&1 | awk "$FD_AWK_COMMON$FD_LS_AWK" 2>&1 >&3 3>&-)
	else
		kept=$(words_lines "$PATHS" | xargs ls -l 2>&1 | awk "$FD_AWK_COMMON$FD_LS_AWK" 2>&1 >&3 3>&-)
	fi
	rc=$?
}

fdmap() {
	begin fdmap
	case $netns in
	host | denied) dirs='/proc/<pids of this netns>/fd' ;;
	*) dirs='/proc/[0-9]*/fd' ;;
	esac
	fd_dirs
	kept=fallback
	if command -v find >/dev/null 2>&1; then
		what="find $dirs -printf | awk"
		fd_pass find
	fi
	case $NL$kept$NL in
	*"${NL}fallback$NL"*)
		what="ls -l $dirs | awk"
		fd_pass ls
		;;
	esac
	# the owners line is ours; anything else (awk missing or failing) is the step's stderr
	OWNERS=
	err=
	rest=$kept
	while [ -n "$rest" ]; do
		line=${rest%%"$NL"*}
		case $rest in
		*"$NL"*) rest=${rest#*"$NL"} ;;
		*) rest= ;;
		esac
		case $line in
		owners:*) OWNERS=${line#owners:} ;;
		*) err=$err${err:+$NL}$line ;;
		esac
	done
	finish fdmap "$rc" "$what" "$err"
}

# owner_paths SUFFIX...: /proc/<pid>/SUFFIX of every pid holding a socket into
# PATHS (NPATHS words); /dev/null first so grep and head name every file even
# in a batch of one.
owner_paths() {
	PATHS=/dev/null
	NPATHS=1
	for p in $OWNERS; do
		for s do
			PATHS="$PATHS /proc/$p/$s"
			NPATHS=$((NPATHS + 1))
		done
	done
}

# paths_step NAME WHAT CMD...: lenient_step of CMD over the words of PATHS,
# CMD itself while they fit as arguments (one fork: the subshell execs it).
paths_step() {
	if [ "$NPATHS" -le "$ARGS_MAX" ]; then
		# shellcheck disable=SC2086 # a word list of /proc paths
		lenient_step "$@" $PATHS
	else
		ps_name=$1
		ps_what=$2
		shift 2
		lenient_step "$ps_name" "$ps_what" on_paths "$@"
	fi
}

# only2 CMD...: `nsenter --net=X grep` over files a namespace may lack (grep's
# 2 becomes 0) while nsenter's own failure (1) still fails the step.
only2() {
	"$@"
	r=$?
	[ "$r" -ne 2 ] || return 0
	return "$r"
}

# -- network namespaces ---------------------------------------------------------
#
# Every distinct network namespace: the `net` links of /proc/<pid>/ns, read in
# one `ls -l` pass, plus the nsfs mounts that hold one without a process (`ip
# netns add`), from /proc/self/mountinfo; one awk emits:
#   N INODE PROCS LOWPID HIGHPID   per namespace processes are in
#   M INODE MOUNTPOINT             per namespace mount (named ones live under /run/netns)
#   H INODE                        the script's own namespace: "host"
#   E TEXT                         per other message      V READABLE DENIED GONE   once
NSMAP_AWK='
function pid_of(s) { return match(s, /\/proc\/[0-9]+\//) ? substr(s, RSTART + 6, RLENGTH - 7) : "" }
/^l/ && $NF ~ /^net:\[[0-9]+\]$/ {
	p = pid_of($(NF - 2))
	if (p == "") next
	i = substr($NF, 6, length($NF) - 6)
	readable++
	if (!(i in n)) { n[i] = 0; lo[i] = p; hi[i] = p; order[++k] = i }
	n[i]++
	if (p + 0 < lo[i] + 0) lo[i] = p
	if (p + 0 > hi[i] + 0) hi[i] = p
	if (p == self) own = i
	next
}
/^ls: .*ermission denied/ { denied++; next }
/^ls: .*o such file or directory/ { gone++; next }
/^l.* \/proc\/[0-9]+\/ns\/net$/ { next }
/ - nsfs / && $4 ~ /^net:\[[0-9]+\]$/ {
	mp = $5
	gsub(/\\040/, " ", mp); gsub(/\\011/, "\t", mp); gsub(/\\134/, "\\", mp)
	print "M", substr($4, 6, length($4) - 6), mp
	next
}
/^[0-9]+ [0-9]+ [0-9]+:[0-9]+ / || /^$/ { next }
{ print "E", $0 }
END {
	for (j = 1; j <= k; j++) { i = order[j]; print "N", i, n[i], lo[i], hi[i] }
	if (own != "") print "H", own
	print "V", readable + 0, denied + 0, gone + 0
}
'

# Which namespaces to enter, as "INODE PID TARGET" lines (PID "-" for one held
# only by a mount): every one but the host's, or (want set) those whose inode,
# mount point, or a process's cgroup, hostname or docker name contains want.
NSPICK_AWK='
function add(i, text) { id[i] = id[i] " " text }
$1 == "H" { host = $2; next }
$1 == "N" { if (!($2 in pid)) order[++k] = $2; pid[$2] = $4; of[$4] = $2; of[$5] = $2; add($2, $2); next }
$1 == "M" {
	mp = substr($0, length($1 $2) + 3)
	if (!($2 in pid)) { pid[$2] = "-"; target[$2] = mp; order[++k] = $2 }
	add($2, mp)
	next
}
/^\/var\/lib\/docker\/containers\// {
	split($0, a, "/"); n = $0; sub(/.*"Name":"\//, "", n); sub(/"$/, "", n); dname[a[6]] = n; next
}
match($0, /^\/proc\/[0-9]+\//) {
	p = substr($0, 7, RLENGTH - 7)
	if (p in of) add(of[p], $0)
}
END {
	for (j = 1; j <= k; j++) {
		i = order[j]
		if (i == host) continue
		if (want != "") {
			for (d in dname) if (index(id[i], d)) id[i] = id[i] " " dname[d]
			if (!index(id[i], want)) continue
		}
		print i, pid[i], (pid[i] == "-" ? target[i] : "/proc/" pid[i] "/ns/net")
	}
}
'

# netns_privileged: CAP_SYS_ADMIN in the effective set (what nsenter needs), read without spawning.
netns_privileged() {
	while read -r key value; do
		case $key in
		CapEff:)
			case $value in *[!0-9a-fA-F]* | '') return 1 ;; esac
			[ $((0x$value >> 21 & 1)) -eq 1 ]
			return
			;;
		esac
	done </proc/self/status
	return 1
}

# of_pids PIDS SUFFIX CMD...: CMD over /proc/<pid>/SUFFIX of the given pids.
of_pids() {
	pids=$1
	suffix=$2
	shift 2
	for p in $pids; do
		printf '/proc/%s/%s\n' "$p" "$suffix"
	done | xargs "$@" /dev/null
}

# capture NAME WHAT CMD...: a step whose body is also kept in $OUT (stderr dropped:
# these read files of processes that may be gone by now).
capture() {
	name=$1
	what=$2
	shift 2
	begin "$name"
	OUT=$("$@" 2>/dev/null)
	rc=$?
	case $rc in 1 | 2 | 123) rc=0 ;; esac
	[ -z "$OUT" ] || printf '%s\n' "$OUT"
	finish "$name" "$rc" "$what" ''
}

proc_tcp_of() {
	if [ -r "/proc/$1/net/tcp6" ]; then
		cat "/proc/$1/net/tcp" "/proc/$1/net/tcp6"
	else
		cat "/proc/$1/net/tcp"
	fi
}

# The sysctls read, in the host's namespace and in each other one.
SYSCTLS='/proc/sys/net/ipv4/tcp_fin_timeout
/proc/sys/net/ipv4/ip_local_port_range
/proc/sys/net/core/somaxconn
/proc/sys/net/ipv4/tcp_max_syn_backlog
/proc/sys/net/ipv4/tcp_max_orphans
/proc/sys/net/ipv4/tcp_abort_on_overflow'
NS_FILES='/proc/net/netstat /proc/net/snmp /proc/net/sockstat /proc/net/sockstat6'

# netns_one INODE PID TARGET: one namespace's sockets, counters and sysctls, a
# constant number of commands: `nsenter --net` runs the host's socket tool and
# one grep; without nsenter (or refused), /proc/PID/net/* shows PID's namespace
# (no sysctls: /proc/sys/net is the reader's namespace).
netns_one() {
	ino=$1
	pid=$2
	target=$3
	entered=
	if [ -n "$have_nsenter" ]; then
		case $sockets_done in
		ss)
			if [ -n "$ss_cgroupless" ]; then
				step "sockets@$ino" "nsenter --net=$target ss -tanoe (stderr dropped: no cgroup2 mount)" \
					ss_quiet_in "$target"
			else
				step "sockets@$ino" "nsenter --net=$target ss -tanoe" nsenter --net="$target" ss -tanoe
			fi
			;;
		netstat) step "sockets@$ino" "nsenter --net=$target netstat -tanoeW" nsenter --net="$target" netstat -tanoeW ;;
		*)
			if [ "$pid" = - ]; then
				step "sockets@$ino" "nsenter --net=$target cat /proc/net/tcp /proc/net/tcp6" \
					nsenter --net="$target" cat /proc/net/tcp /proc/net/tcp6
			else
				step "sockets@$ino" "cat /proc/$pid/net/tcp /proc/$pid/net/tcp6" proc_tcp_of "$pid"
			fi
			;;
		esac
		[ "$rc" -ne 0 ] || entered=1
	fi
	if [ -z "$entered" ] && [ "$pid" != - ]; then
		step "sockets@$ino" "cat /proc/$pid/net/tcp /proc/$pid/net/tcp6" proc_tcp_of "$pid"
		lenient_step "nsnet@$ino" "grep -H '' /proc/$pid/net/{netstat,snmp,sockstat,sockstat6}" \
			grep -H '' "/proc/$pid/net/netstat" "/proc/$pid/net/snmp" \
			"/proc/$pid/net/sockstat" "/proc/$pid/net/sockstat6"
	elif [ -n "$entered" ]; then
		# shellcheck disable=SC2086 # NS_FILES and SYSCTLS are word lists
		step "nsnet@$ino" "nsenter --net=$target grep -H '' /proc/sys/net/... /proc/net/..." \
			only2 nsenter --net="$target" grep -H '' $SYSCTLS $NS_FILES
	fi
}

# The namespaces' own /proc/PID/net files, read by two greps for all of them
# (more only past ARG_MAX): /proc/PID/net shows PID's network namespace without
# entering it. First the counters and sockstat, whose TCP/TCP6 "inuse" and "tw"
# tell which socket tables hold anything: reading /proc/net/tcp walks the
# kernel's whole established hash, shared by every namespace (some 2 ms here
# even for an empty one), so an empty table is never read. Then those tables.
# A namespace is entered (nsenter: ss for listen backlogs, and its sysctls)
# only when they show what a rule judges against the namespace's own
# settings: a CLOSE_WAIT or FIN_WAIT2 socket (the port range, tcp_fin_timeout),
# a listener with connections waiting in its accept queue (a LISTEN row's
# rx_queue is the queue's length; only ss tells the backlog it fills, and
# somaxconn caps it), more than NS_SMALL_MAX TCP sockets (below it no count
# rule reading a sysctl fires: time_wait_exhaustion needs thousands), or no
# sockstat at all (its process gone: entering says so). A namespace of a few
# idle or established sockets, most of a container host's, then costs a share
# of two greps, not two nsenter runs (some 6 ms each).
NS_SMALL_MAX=32

# NSTABLES_AWK passes the first grep's lines through and writes, to its
# stderr, "tables: FILE..." (the socket tables to read) and "read: PID..."
# (the pids whose sockstat was read). Sockstat: "TCP: inuse N orphan N tw N
# ...", "TCP6: inuse N"; a TIME_WAIT may be either family's.
NSTABLES_AWK='
{ print }
/^\/proc\/[0-9]+\/net\/sockstat6?:TCP6?: inuse / {
	p = substr($0, 7)
	p = substr(p, 1, index(p, "/") - 1)
	read[p] = 1
	split(substr($0, index($0, ":") + 1), f, " ")
	if (f[1] == "TCP:") { if (f[3] + 0 > 0) v4[p] = 1; if (f[7] + 0 > 0) { v4[p] = 1; v6[p] = 1 } }
	else if (f[3] + 0 > 0) v6[p] = 1
}
END {
	s = ""; r = ""
	for (p in read) {
		r = r " " p
		if (p in v4) s = s " /proc/" p "/net/tcp"
		if ((p in v6) && six) s = s " /proc/" p "/net/tcp6"
	}
	print "tables:" s > "/dev/stderr"
	print "read:" r > "/dev/stderr"
}
'

# NSREAD_AWK passes the tables through and writes "enter: PID..." (the pids
# above) to its stderr. A row: "sl local remote st tx_queue:rx_queue ...",
# st 0A is LISTEN, 08 CLOSE_WAIT, 05 FIN_WAIT2.
NSREAD_AWK='
{ print }
/^\/proc\/[0-9]+\/net\/tcp6?:/ {
	p = substr($0, 7)
	p = substr(p, 1, index(p, "/") - 1)
	split(substr($0, index($0, ":") + 1), f, " ")
	if (f[1] == "sl") next
	rows[p]++
	if (f[4] == "08" || f[4] == "05" || (f[4] == "0A" && f[5] !~ /:0+$/)) judged[p] = 1
}
END {
	s = ""
	n = split(read, a, " ")
	for (j = 1; j <= n; j++) seen[a[j]] = 1
	n = split(pids, a, " ")
	for (j = 1; j <= n; j++) {
		p = a[j]
		if (!(p in seen) || (p in judged) || rows[p] > max + 0) s = s " " p
	}
	print "enter:" s > "/dev/stderr"
}
'

# ns_counters PIDS: grep -H over the counters of every pid; /dev/null first so
# grep names every file even in a batch of one.
ns_counters() {
	if [ -r /proc/net/sockstat6 ]; then
		files='netstat snmp sockstat sockstat6'
	else
		files='netstat snmp sockstat'
	fi
	for p in $1; do
		for f in $files; do
			printf '/proc/%s/net/%s\n' "$p" "$f"
		done
	done | xargs grep -H '' /dev/null
}

# words_lines WORDS: one word a line, for xargs.
words_lines() {
	for w in $1; do
		printf '%s\n' "$w"
	done
}

# kept_lines TEXT: the KEY:VALUE lines an awk kept (tables, read, enter) into
# K_tables, K_read, K_enter; anything else (grep's or awk's complaints) onto err.
kept_lines() {
	rest=$1
	while [ -n "$rest" ]; do
		line=${rest%%"$NL"*}
		case $rest in
		*"$NL"*) rest=${rest#*"$NL"} ;;
		*) rest= ;;
		esac
		case $line in
		tables:*) K_tables=${line#tables:} ;;
		read:*) K_read=${line#read:} ;;
		enter:*) K_enter=${line#enter:} ;;
		*) err=$err${err:+$NL}$line ;;
		esac
	done
}

# nsproc PIDS: the step; sets ENTER to the pids whose namespace is to be entered.
# Complaints of grep (bar files of processes gone since: entering says so) and
# awk are kept; the files stream out through awk.
nsproc() {
	begin nsproc
	six=
	[ ! -r /proc/net/tcp6 ] || six=1
	err=
	K_tables=
	K_read=
	K_enter=
	kept=$({ { ns_counters "$1" 2>&1 >&4 4>&- | grep -v ': No such file or directory$' >&2; } 4>&1 |
		awk -v six="$six" "$NSTABLES_AWK" >&3 3>&-; } 2>&1)
	rc=$?
	kept_lines "$kept"
	if [ "$rc" -eq 0 ]; then
		kept=$({ { words_lines "$K_tables" | xargs grep -H '' /dev/null 2>&1 >&4 4>&- |
			grep -v ': No such file or directory$' >&2; } 4>&1 |
			awk -v pids="$1" -v read="$K_read" -v max="$NS_SMALL_MAX" "$NSREAD_AWK" >&3 3>&-; } 2>&1)
		rc=$?
		kept_lines "$kept"
	fi
	ENTER=$K_enter
	[ "$rc" -eq 0 ] || ENTER=$1
	finish nsproc "$rc" "grep -H '' /proc/<pid a namespace>/net/{netstat,snmp,sockstat,sockstat6}, then its tcp, tcp6 if they hold sockets | awk" "$err"
}

# namespaces MODE: find them, read their labels' evidence, enter each chosen one.
namespaces() {
	begin netns
	NSMAP=$({ printf '%s\n' /proc/[0-9]*/ns/net | xargs ls -l 2>&1 |
		awk -v self="$$" "$NSMAP_AWK" - /proc/self/mountinfo; } 2>&1)
	rc=$?
	[ -z "$NSMAP" ] || printf '%s\n' "$NSMAP"
	if [ "$1" = denied ]; then
		finish netns "$rc" 'ls -l /proc/[0-9]*/ns/net; /proc/self/mountinfo | awk' \
			'not entered: no CAP_SYS_ADMIN (run as root, or --become, to read every namespace)'
		return 0
	fi
	finish netns "$rc" 'ls -l /proc/[0-9]*/ns/net; /proc/self/mountinfo | awk' ''
	# two pids per namespace: the lowest (a container's init, a pod's pause) and the highest
	NSPIDS=$(printf '%s\n' "$NSMAP" | awk '$1 == "H" { h = $2 } $1 == "N" { i[++k] = $2; lo[k] = $4; hi[k] = $5 }
		END { for (j = 1; j <= k; j++) if (i[j] != h) { print lo[j]; if (hi[j] != lo[j]) print hi[j] } }' 2>/dev/null)
	NSCG=
	NSHOST=
	NSDOCKER=
	if [ -n "$NSPIDS" ]; then
		capture nscgroup "grep -H '^0::|:memory:|:name=systemd:' /proc/<pids>/cgroup" \
			of_pids "$NSPIDS" cgroup grep -H -e '^0::' -e ':memory:' -e ':name=systemd:'
		NSCG=$OUT
		capture nshostname "grep -H '' /proc/<pids>/root/etc/hostname" \
			of_pids "$NSPIDS" root/etc/hostname grep -H ''
		NSHOST=$OUT
		case $NSCG in
		*docker*)
			if [ -r /var/lib/docker/containers ]; then
				capture nsdocker "grep -o '\"Name\":\"/[^\"]*\"' /var/lib/docker/containers/*/config.v2.json" \
					docker_names
				NSDOCKER=$OUT
			fi
			;;
		esac
	fi
	want=
	[ "$1" != name ] || want=$2
	case $want in *:*) want=${want#*:} ;; esac
	begin nspick
	NSLIST=$(printf '%s\n' "$NSMAP" "$NSCG" "$NSHOST" "$NSDOCKER" | awk -v want="$want" "$NSPICK_AWK")
	rc=$?
	[ -z "$NSLIST" ] || printf '%s\n' "$NSLIST"
	finish nspick "$rc" "namespaces to enter${want:+ (matching $want)}: INODE PID TARGET" ''
	[ -n "$NSLIST" ] || return 0
	have_nsenter=
	! command -v nsenter >/dev/null 2>&1 || have_nsenter=1
	saved_ifs=$IFS
	IFS=$NL
	set -f
	pids=
	for line in $NSLIST; do
		IFS=' '
		# shellcheck disable=SC2086 # "INODE PID TARGET"
		set -- $line
		IFS=$NL
		[ "$2" = - ] || pids="$pids $2"
	done
	IFS=$saved_ifs
	ENTER=
	[ -z "$pids" ] || nsproc "$pids"
	IFS=$NL
	for line in $NSLIST; do
		IFS=' '
		# shellcheck disable=SC2086 # "INODE PID TARGET", the target may hold spaces
		set -- $line
		IFS=$saved_ifs
		ino=$1
		pid=$2
		shift 2
		# the others were read by nsproc; without nsenter, nothing more can be read of them
		case $pid: in
		-:) netns_one "$ino" "$pid" "$*" ;;
		*)
			case " $ENTER " in
			*" $pid "*) [ -z "$have_nsenter" ] || netns_one "$ino" "$pid" "$*" ;;
			esac
			;;
		esac
	done
	set +f
	IFS=$saved_ifs
}

docker_names() {
	for f in /var/lib/docker/containers/*/config.v2.json; do
		printf '%s\n' "$f"
	done | xargs grep -H -o '"Name":"/[^"]*"' /dev/null
}

main() {
	sockets_pref=auto
	netns=auto
	compress=none
	for arg do
		case $arg in
		--sockets=auto | --sockets=ss | --sockets=netstat | --sockets=proc) sockets_pref=${arg#--sockets=} ;;
		--netns=auto | --netns=all | --netns=host) netns=${arg#--netns=} ;;
		--netns=?*)
			netns=name
			netns_want=${arg#--netns=}
			;;
		--compress) compress=auto ;;
		--gzip) compress=gzip ;;
		*)
			printf 'collect.sh: unknown argument: %s\n' "$arg" >&2
			return 2
			;;
		esac
	done
	LC_ALL=C
	export LC_ALL
	if [ "$netns" = auto ]; then
		if netns_privileged; then netns=all; else netns=denied; fi
	fi
	inuse=
	tool=
	case $compress in
	auto | gzip)
		if [ "$compress" = auto ] && command -v zstd >/dev/null 2>&1; then
			tool=zstd
		elif command -v gzip >/dev/null 2>&1; then
			tool=gzip
		fi
		if [ -z "$tool" ]; then
			if [ "$compress" = gzip ]; then
				compress='none (gzip not found)'
			else
				compress='none (zstd and gzip not found)'
			fi
		elif compress_pays; then
			compress=$tool
			# the reader knows the stream by its magic bytes; level 1: a sick host's CPU matters more
			if [ "$tool" = zstd ]; then
				collect | zstd -c -1 -q
			else
				collect | gzip -c -1
			fi
			return
		else
			compress="none ($inuse TCP sockets, one network namespace: under $GZIP_MIN_SOCKETS, not worth a $tool)"
		fi
		;;
	esac
	collect
}

# --compress (zstd -1, else gzip -1) and --gzip compress when it pays: with
# GZIP_MIN_SOCKETS TCP sockets or more in this namespace (sockstat, by the
# `read` builtin), or other namespaces to read. Below that the whole output is
# some 10 KB of counters plus ~100 B a socket, under 64 KB: a few SSH packets
# either way, while compressing would be one more process on every small host
# of a fleet. Looking for another namespace stats two links a process (the
# `test -ef` builtin): past 256 processes without one, the host is not small
# either, and it compresses. zstd -1 costs a third of gzip -1's CPU for a
# fifth fewer bytes (22 MB of a 200,000-socket host: 0.11 s against 0.37 s).
GZIP_MIN_SOCKETS=500
compress_pays() {
	tcp_inuse
	[ "$inuse" -lt "$GZIP_MIN_SOCKETS" ] || return 0
	case $netns in host | denied) return 1 ;; esac
	for d in /run/netns/*; do
		[ ! -e "$d" ] || return 0
	done
	[ -e /proc/$$/ns/net ] || return 0
	n=0
	for d in /proc/[0-9]*; do
		[ ! -e "$d/ns/net" ] || [ "$d/ns/net" -ef /proc/$$/ns/net ] || return 0
		n=$((n + 1))
		[ "$n" -lt 256 ] || return 0
	done
	return 1
}

collect() {
	exec 3>&1

	begin script
	printf 'version=%s\nsockets=%s\nnetns=%s\ncompress=%s\n' "$NETDIAG_VERSION" "$sockets_pref" "$netns" "$compress"
	finish script 0 'collect.sh' ''

	host_info

	sockets_done=
	ss_cgroupless=
	case $sockets_pref in auto | ss) ss_sockets ;; esac
	case $sockets_pref in auto | netstat) try_sockets netstat 'netstat -tanoeW' netstat -tanoeW ;; esac
	case $sockets_pref in auto | proc) try_sockets proc 'cat /proc/net/tcp /proc/net/tcp6' cat /proc/net/tcp /proc/net/tcp6 ;; esac

	fdmap
	if [ -n "$OWNERS" ]; then
		# every line of comm, and of limits only "Max open files": the other rows are
		# all longer than a comm can be (15 bytes)
		owner_paths comm limits
		paths_step owners "grep -H '' /proc/<owners>/{comm,limits} (limits: Max open files)" \
			grep -H -v -e '^Limit .\{20\}' -e '^Max [^o].\{20\}'
		owner_paths cmdline
		paths_step cmdline 'head -c 4096 /proc/<owners>/cmdline' head -c 4096
	else
		for name in owners cmdline; do
			begin "$name"
			finish "$name" 0 'nothing: no readable process holds a socket' ''
		done
	fi

	HOST_FILES=$NS_FILES
	[ -r /proc/net/sockstat6 ] || HOST_FILES='/proc/net/netstat /proc/net/snmp /proc/net/sockstat'
	# one grep for every /proc file of the host's: the sysctls, the counters,
	# sockstat, and /proc/stat's btime (its cpu, intr and softirq lines, long
	# on a big machine, are left out; no line of the other files starts so)
	# shellcheck disable=SC2086 # word lists
	lenient_step procfs "grep -H '' /proc/sys/net/... /proc/net/{netstat,snmp,sockstat,sockstat6} /proc/stat (btime)" \
		grep -H -v -e '^cpu' -e '^intr ' -e '^softirq ' $SYSCTLS $HOST_FILES /proc/stat
	[ "$netns" = host ] || namespaces "$netns" "$netns_want"
	# the last line: output without it was cut short
	printf '%s done\n' "$M"
	return 0
}

main "$@" </dev/null
