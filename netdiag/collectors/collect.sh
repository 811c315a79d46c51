# netdiag collection script: prints every TCP-related source of this host as a
# delimited section (format: ARCHITECTURE.md, "The collection script's output").
#
#   sh -s -- [--sockets=auto|ss|netstat|proc] < collect.sh
#
# The same bytes run locally and over SSH. POSIX sh only (dash, busybox ash,
# bash); tools are found on PATH: cat grep awk ls xargs head id date (uname
# only where /proc/sys/kernel is unreadable), and ss
# or netstat when present. It is built to be light on a sick host: a fixed
# number of commands however many sockets or processes there are, no `ss -p`
# / `netstat -p`, socket owners found by one `ls -l` pass over
# /proc/<pid>/fd, no temporary files, and timing read from /proc/uptime by
# the `read` builtin. Everything sits in main(), called on the last line, so a
# script cut short in transit never runs half, and commands read /dev/null,
# never the rest of the script on stdin.

NETDIAG_VERSION=1
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
# its stderr is captured for the end of the section. Sets $rc.
step() {
	name=$1
	what=$2
	shift 2
	begin "$name"
	err=$("$@" 2>&1 >&3 3>&-)
	rc=$?
	finish "$name" "$rc" "$what" "$err"
}

# missing NAME WHAT REASON: a section for a source that could not run at all.
missing() {
	begin "$1"
	rc=127
	finish "$1" 127 "$2" "$3"
}

host_info() {
	h=
	k=
	read -r h </proc/sys/kernel/hostname || h=$(uname -n)
	read -r k </proc/sys/kernel/osrelease || k=$(uname -r)
	printf 'hostname=%s\nkernel=%s\n' "$h" "$k"
	printf 'uid=%s\n' "$(id -u)"
	printf 'time=%s\n' "$(date +%s)"
}

proc_tcp() {
	if [ -r /proc/net/tcp6 ]; then
		cat /proc/net/tcp /proc/net/tcp6
	else
		cat /proc/net/tcp
	fi
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
	elif ! command -v "$tool" >/dev/null 2>&1; then
		missing sockets "$1" "$tool: not found in PATH"
		return 0
	fi
	step sockets "$@"
	[ "$rc" -ne 0 ] || sockets_done=$tool
}

# The fd map: one `ls -l` over every /proc/<pid>/fd (xargs splits the list
# only if it exceeds ARG_MAX; the leading /dev/null makes ls print a
# "/proc/N/fd:" heading even for a one-directory batch), its stderr merged so
# that refused and vanished processes are counted: a directory of another
# user's process (not root), or links root may not read either (LSM, ptrace
# rules), make that pid "denied". One awk emits:
#   S PID FD INODE   per socket link      P PID FDS SOCKETS   per process holding sockets
#   E TEXT           per other message    V READABLE DENIED GONE   once, at the end
FDMAP_AWK='
function done_pid() { if (pid != "" && ns > 0) print "P", pid, nfd, ns }
function pid_of(s) { return match(s, /\/proc\/[0-9]+\//) ? substr(s, RSTART + 6, RLENGTH - 7) : "?" }
/^\/proc\/[0-9]+\/fd:$/ { done_pid(); pid = substr($0, 7, length($0) - 10); nfd = 0; ns = 0; readable++; next }
/^l[-r][-w]/ {
	if (pid == "") next
	nfd++
	t = $NF
	if (t ~ /^socket:\[[0-9]+\]$/) { ns++; print "S", pid, $(NF - 2), substr(t, 9, length(t) - 9) }
	next
}
/^ls: .*ermission denied/ { p = pid_of($0); if (!(p in refused)) { refused[p] = 1; denied++ } next }
/^ls: .*o such file or directory/ { gone++; next }
/^total [0-9]+$/ || /^$/ || /^c.* \/dev\/null$/ { next }
{ print "E", $0 }
END { done_pid(); print "V", readable + 0, denied + 0, gone + 0 }
'

fdmap() {
	begin fdmap
	FDMAP=$({ printf '%s\n' /proc/[0-9]*/fd | xargs ls -l /dev/null 2>&1 | awk "$FDMAP_AWK"; } 2>&1)
	rc=$?
	[ -z "$FDMAP" ] || printf '%s\n' "$FDMAP"
	finish fdmap "$rc" 'ls -l /proc/[0-9]*/fd | awk' ''
	# (awk's absence was just reported in the fdmap section)
	OWNERS=$(printf '%s\n' "$FDMAP" | awk '$1 == "P" { print $2 }' 2>/dev/null)
}

# of_owners SUFFIX CMD...: CMD once over /proc/<pid>/SUFFIX of every pid
# holding a socket (more than once only past ARG_MAX); /dev/null first so
# grep and head name every file even in a batch of one.
of_owners() {
	suffix=$1
	shift
	for p in $OWNERS; do
		printf '/proc/%s/%s\n' "$p" "$suffix"
	done | xargs "$@" /dev/null
}

# lenient CMD...: for readers of many /proc files at once. A file that is not
# there (a process that exited since the fd map, a sysctl this kernel or
# namespace lacks) is not a failed step: grep's 1/2 and xargs' 123 ("some
# batch failed") become 0, and the messages still end the section as stderr.
lenient() {
	"$@"
	r=$?
	case $r in
	1 | 2 | 123) return 0 ;;
	esac
	return "$r"
}

main() {
	sockets_pref=auto
	for arg do
		case $arg in
		--sockets=auto | --sockets=ss | --sockets=netstat | --sockets=proc) sockets_pref=${arg#--sockets=} ;;
		*)
			printf 'collect.sh: unknown argument: %s\n' "$arg" >&2
			return 2
			;;
		esac
	done
	LC_ALL=C
	export LC_ALL
	exec 3>&1

	begin script
	printf 'version=%s\nsockets=%s\n' "$NETDIAG_VERSION" "$sockets_pref"
	finish script 0 'collect.sh' ''

	step host 'read hostname, osrelease; id -u; date +%s' host_info

	sockets_done=
	case $sockets_pref in auto | ss) try_sockets ss 'ss -tanoe' ss -tanoe ;; esac
	case $sockets_pref in auto | netstat) try_sockets netstat 'netstat -tanoeW' netstat -tanoeW ;; esac
	case $sockets_pref in auto | proc) try_sockets proc 'cat /proc/net/tcp /proc/net/tcp6' proc_tcp ;; esac

	fdmap
	if [ -n "$OWNERS" ]; then
		step comm "grep -H '' /proc/<owners>/comm" lenient of_owners comm grep -H ''
		step limits "grep -H '^Max open files' /proc/<owners>/limits" \
			lenient of_owners limits grep -H '^Max open files'
		step cmdline 'head -c 4096 /proc/<owners>/cmdline' lenient of_owners cmdline head -c 4096
	else
		for name in comm limits cmdline; do
			begin "$name"
			finish "$name" 0 'nothing: no readable process holds a socket' ''
		done
	fi

	step sysctls "grep -H '' /proc/sys/..." lenient grep -H '' \
		/proc/sys/net/ipv4/tcp_fin_timeout \
		/proc/sys/net/ipv4/ip_local_port_range \
		/proc/sys/net/core/somaxconn \
		/proc/sys/net/ipv4/tcp_max_syn_backlog \
		/proc/sys/net/ipv4/tcp_max_orphans \
		/proc/sys/net/ipv4/tcp_abort_on_overflow
	step proc_net_netstat 'cat /proc/net/netstat' cat /proc/net/netstat
	step proc_net_snmp 'cat /proc/net/snmp' cat /proc/net/snmp
	if [ -r /proc/net/sockstat6 ]; then
		step sockstat 'cat /proc/net/sockstat /proc/net/sockstat6' cat /proc/net/sockstat /proc/net/sockstat6
	else
		step sockstat 'cat /proc/net/sockstat' cat /proc/net/sockstat
	fi
	# the last line: output without it was cut short
	printf '%s done\n' "$M"
	return 0
}

main "$@" </dev/null
