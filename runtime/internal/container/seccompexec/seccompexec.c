/*
 * nodectl-seccomp is the first program a container's init executes when the
 * shim hands the container's seccomp filter over already compiled: it loads
 * the filter into itself and executes the task's command, which keeps it.
 *
 * libcontainer compiles a container's seccomp profile with libseccomp inside
 * every container's init, ~2.5-3 ms of CPU per start for the default profile
 * (docs/performance.md). The shim instead has the profile compiled once by
 * libcontainer itself, in a throwaway process whose loaded filter it reads
 * back from the kernel (PTRACE_SECCOMP_GET_FILTER), and passes that program,
 * byte for byte what libcontainer would load, to this helper.
 *
 * Usage (only a container's init runs it, as /proc/self/fd/3):
 *
 *	nodectl-seccomp <filter flags> <command> [<arg>...]
 *
 * with these descriptors, all of which it closes before the command runs:
 *
 *	3  this program (a sealed memfd: nothing in the container can change it)
 *	4  the filter: an array of struct sock_filter (a sealed memfd)
 *	5  the report pipe: close-on-exec, so the shim reads end of file once the
 *	   command executes, or one line saying why it did not
 *
 * It finds <command> on PATH as libcontainer does (Go's exec.LookPath: a name
 * without a slash is looked up in PATH's non-empty entries only, the first
 * file that is not a directory and that the effective user may execute),
 * loads the filter (no_new_privs is set already:
 * libcontainer sets it before executing this), and executes the command with
 * <command> [<arg>...] as its argv and the environment it was given. Any
 * failure is reported on fd 5 and ends it with status 127: the command never
 * runs without its filter.
 *
 * Linked statically against musl, like nodectl-monitor (make build; the
 * tests build it the same way).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's ABI (<linux/filter.h>, <linux/seccomp.h>), which musl-gcc
 * does not ship. */
struct sock_filter {
	unsigned short code;
	unsigned char jt, jf;
	unsigned int k;
};
struct sock_fprog {
	unsigned short len;
	struct sock_filter *filter;
};
#define SECCOMP_SET_MODE_FILTER 1

enum { SELF_FD = 3, FILTER_FD = 4, REPORT_FD = 5, MAX_INSNS = 4096 };

static struct sock_filter insns[MAX_INSNS + 1];

/* fail reports msg (formatted as printf) on the report pipe, or on stderr
 * if the pipe is gone, and exits 127. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		_exit(127);
	if ((size_t)n > sizeof msg - 2)
		n = sizeof msg - 2;
	msg[n++] = '\n';
	if (write(REPORT_FD, msg, (size_t)n) < 0)
		(void)!write(2, msg, (size_t)n);
	_exit(127);
}

/* executable reports whether path is a file this process may execute (not
 * a directory; execute access for the effective user, as Go checks). */
static int executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

/* look_path resolves name as Go's exec.LookPath does, into buf. */
static const char *look_path(const char *name, char *buf, size_t len)
{
	const char *path, *p, *end;

	if (strchr(name, '/'))
		return name;
	path = getenv("PATH");
	for (p = path; p && *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end == p)
			continue; /* an empty entry means ".", which Go refuses */
		if ((size_t)snprintf(buf, len, "%.*s/%s", (int)(end - p), p, name) >= len)
			continue;
		if (executable(buf))
			return buf;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static char found[PATH_MAX];
	struct sock_fprog prog;
	unsigned long flags;
	const char *path;
	char *endp;
	ssize_t n;
	int err;

	if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0)
		fail("nodectl-seccomp: report pipe: %s", strerror(errno));
	if (argc < 3)
		fail("nodectl-seccomp: usage: nodectl-seccomp <filter flags> <command> [<arg>...]");
	errno = 0;
	flags = strtoul(argv[1], &endp, 10);
	if (errno || *endp || endp == argv[1])
		fail("nodectl-seccomp: bad filter flags \"%s\"", argv[1]);
	n = pread(FILTER_FD, insns, sizeof insns, 0);
	if (n < 0)
		fail("nodectl-seccomp: read filter: %s", strerror(errno));
	if (n == 0 || n % sizeof insns[0] || n / sizeof insns[0] > MAX_INSNS)
		fail("nodectl-seccomp: filter of %zd bytes is not 1 to %d instructions", n, MAX_INSNS);
	close(SELF_FD);
	close(FILTER_FD);

	path = look_path(argv[2], found, sizeof found);
	if (!path)
		fail("exec: \"%s\": executable file not found in $PATH", argv[2]);

	prog.len = (unsigned short)(n / sizeof insns[0]);
	prog.filter = insns;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) != 0)
		fail("nodectl-seccomp: load seccomp filter: %s", strerror(errno));
	execv(path, argv + 2);
	err = errno;
	fail("exec %s: %s", path, strerror(err));
}
