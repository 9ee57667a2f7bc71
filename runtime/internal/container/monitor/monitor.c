/*
 * nodectl-monitor is what a container's nodectl-shim turns into once the
 * container runs: the shim execve(2)s this program, so the pid, the session,
 * the child-subreaper flag and the parenthood of the container's init all
 * carry over, while the shim's libcontainer binary is unmapped. It waits for
 * the init process, records its exit in <rundir>/exit.json atomically (temp
 * file + fsync + rename + fsync of the directory) and exits.
 *
 * Usage (only the shim runs it):
 *
 *	nodectl-monitor <rundir> <init-pid> [<oom-counter-file>]
 *
 * <oom-counter-file> is the container's cgroup v1 memory.oom_control or v2
 * memory.events; a non-zero "oom_kill" there marks the exit as OOM-killed.
 *
 * One runs per running task for the task's whole life, so it is C, linked
 * statically against musl (make build; the tests build it the same way): a
 * Go monitor took ~0.45 MiB of private memory per task and ~1.1 ms of CPU to
 * start, this one 12–20 KiB and ~0.04 ms (docs/runtime.md). It uses nothing
 * but the C library. The exit record's JSON is written by hand and must stay
 * what encoding/json makes of shimapi.Exit (TestMonitorRecordsExit reads it
 * back): {"code":N[,"signal":S][,"oom_killed":true],"finished_at":RFC 3339}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what, int err)
{
	char msg[512];
	int n;

	if (err)
		n = snprintf(msg, sizeof msg, "nodectl-monitor: %s: %s\n", what, strerror(err));
	else
		n = snprintf(msg, sizeof msg, "nodectl-monitor: %s\n", what);
	if (n > 0)
		(void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	_exit(1);
}

/* wait_init reaps children until pid exits and returns its exit code (128 +
 * the signal when killed) and, in *sig, the signal. Other children, orphans
 * reparented to us as subreaper, are reaped and ignored. */
static int wait_init(pid_t pid, int *sig)
{
	for (;;) {
		int st;
		pid_t got = wait4(-1, &st, 0, NULL);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			fail("wait for the container's init", errno);
		}
		if (got != pid)
			continue;
		if (WIFEXITED(st)) {
			*sig = 0;
			return WEXITSTATUS(st);
		}
		if (WIFSIGNALED(st)) {
			*sig = WTERMSIG(st);
			return 128 + *sig;
		}
	}
}

/* oom_killed reports whether the cgroup file's "oom_kill" counter is
 * non-zero; an unreadable file counts as no. */
static int oom_killed(const char *file)
{
	char buf[4096];
	size_t len = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while (len < sizeof buf - 1) {
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	for (char *line = buf; line != NULL;) {
		char *nl = strchr(line, '\n');

		if (strncmp(line, "oom_kill ", 9) == 0) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(line + 9, &end, 10);
			return errno == 0 && end != line + 9 && v > 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* rfc3339 formats t the way Go's time.RFC3339Nano does in UTC: fractional
 * seconds without trailing zeros, none at all on a whole second. */
static void rfc3339(char *out, size_t size, const struct timespec *t)
{
	struct tm tm;
	size_t n;

	gmtime_r(&t->tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (t->tv_nsec > 0) {
		char frac[16];
		int k = snprintf(frac, sizeof frac, ".%09ld", t->tv_nsec);

		while (k > 1 && frac[k - 1] == '0')
			frac[--k] = '\0';
		n += (size_t)snprintf(out + n, size - n, "%s", frac);
	}
	snprintf(out + n, size - n, "Z");
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* write_atomic writes dir/name through a synced temp file, rename(2) and a
 * synced directory, so a reader sees the whole record or none, even after a
 * crash. It returns 0 or an errno. */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, dfd, err;

	if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, name) >= (int)sizeof tmp ||
	    snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst)
		return ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (write_all(fd, data, len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		err = errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	if (close(fd) < 0 || rename(tmp, dst) < 0) {
		err = errno;
		unlink(tmp);
		return err;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno;
	err = fsync(dfd) < 0 ? errno : 0;
	close(dfd);
	return err;
}

int main(int argc, char **argv)
{
	static const int ignored[] = {SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGQUIT};
	struct sigaction sa;
	struct timespec finished;
	char when[64], rec[256], *end;
	long pid;
	int code, sig = 0, oom, n, err;

	if (argc < 3 || argc > 4)
		fail("usage: nodectl-monitor <rundir> <init-pid> [<oom-counter-file>]", 0);
	errno = 0;
	pid = strtol(argv[2], &end, 10);
	if (errno || end == argv[2] || *end || pid <= 0 || pid > INT_MAX) {
		char msg[128];

		snprintf(msg, sizeof msg, "bad init pid %.64s", argv[2]);
		fail(msg, 0);
	}
	/* The agent's signals are not ours (see the shim); only SIGKILL stops
	 * us. The shim ignores them already; this keeps it so. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		sigaction(ignored[i], &sa, NULL);

	code = wait_init((pid_t)pid, &sig);
	clock_gettime(CLOCK_REALTIME, &finished);
	oom = argc == 4 && oom_killed(argv[3]);
	rfc3339(when, sizeof when, &finished);
	n = snprintf(rec, sizeof rec, "{\"code\":%d", code);
	if (sig)
		n += snprintf(rec + n, sizeof rec - n, ",\"signal\":%d", sig);
	if (oom)
		n += snprintf(rec + n, sizeof rec - n, ",\"oom_killed\":true");
	n += snprintf(rec + n, sizeof rec - n, ",\"finished_at\":\"%s\"}", when);
	err = write_atomic(argv[1], "exit.json", rec, (size_t)n);
	if (err)
		fail("record exit", err);
	return 0;
}
