// SPDX-License-Identifier: GPL-2.0
/*
 * faultc VM init: PID 1 of the initramfs that kernel/run-in-vm.sh boots.
 *
 * It mounts the host's root (9p, read-only) and the run's control share,
 * reads the job the host wrote there (argv, environment, working directory,
 * read-write shares), runs the command chrooted into the host root, relays
 * its stdout and stderr to the serial ports ttyS1 and ttyS2, writes the exit
 * status and the kernel log back to the control share, then leaves QEMU
 * through the isa-debug-exit port.  ttyS0 is the kernel console.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define ROOT "/root"
#define CTL "/ctl"
#define DEBUG_EXIT_PORT 0xf4
#define MAX_JOB (1 << 20)
#define MAX_ITEMS 4096
#define __noreturn __attribute__((noreturn))

static int console = -1;

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	if (console >= 0 && n > 0)
		(void)!write(console, buf, n);
}

/* Leave QEMU.  The status itself travels in CTL/status; this only stops the VM. */
static void __noreturn leave(int code)
{
	sync();
	if (ioperm(DEBUG_EXIT_PORT, 4, 1) == 0)
		outb(code & 0x7f, DEBUG_EXIT_PORT);
	say("faultc-init: isa-debug-exit failed: %s\n", strerror(errno));
	/* PID 1 must not exit; the host's wall timeout ends the VM. */
	for (;;)
		pause();
}

static void __noreturn fail(const char *what)
{
	say("faultc-init: %s: %s\n", what, strerror(errno));
	leave(125);
}

static void mount_or_die(const char *src, const char *dst, const char *type,
			 unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) != 0) {
		say("faultc-init: mount %s on %s (%s): %s\n", src, dst, type, strerror(errno));
		leave(125);
	}
}

static void mount_optional(const char *src, const char *dst, const char *type,
			   const char *data)
{
	if (mount(src, dst, type, 0, data) != 0)
		say("faultc-init: optional mount %s on %s: %s\n", type, dst, strerror(errno));
}

/* mkdir -p, for share mount points that live on the guest's tmpfs. */
static void make_path(const char *path)
{
	char buf[4096];
	size_t i, len = strlen(path);

	if (len >= sizeof(buf))
		return;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];

			buf[i] = '\0';
			mkdir(buf, 0755);
			buf[i] = c;
		}
	}
}

/* Read a whole control file; returns its length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

/* Split a NUL-separated list into a NULL-terminated vector. */
static char **split_nul(char *buf, ssize_t len)
{
	char **vec = calloc(MAX_ITEMS + 1, sizeof(char *));
	ssize_t i = 0;
	int n = 0;

	if (!vec)
		fail("calloc");
	while (i < len && n < MAX_ITEMS) {
		vec[n++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	vec[n] = NULL;
	return vec;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0) {
		say("faultc-init: open %s: %s\n", path, strerror(errno));
		return;
	}
	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		data += n;
		len -= n;
	}
	fsync(fd);
	close(fd);
}

static int open_raw_tty(const char *path)
{
	struct termios t;
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		fail(path);
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

static void write_all(int fd, const char *buf, ssize_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= n;
	}
}

/* Copy the child's pipes to the serial ports until both close. */
static void relay(int out_pipe, int err_pipe, int out_tty, int err_tty, pid_t child,
		  int *status)
{
	struct pollfd fds[2] = {
		{ .fd = out_pipe, .events = POLLIN },
		{ .fd = err_pipe, .events = POLLIN },
	};
	int ttys[2] = { out_tty, err_tty };
	char buf[65536];
	int open_pipes = 2, reaped = 0, i;

	while (open_pipes > 0) {
		/*
		 * Once the command is gone, give leftover writers (its
		 * background children) a moment, then stop waiting on them.
		 */
		int r = poll(fds, 2, reaped ? 500 : 200);

		if (r < 0 && errno != EINTR)
			break;
		if (!reaped && waitpid(child, status, WNOHANG) == child)
			reaped = 1;
		if (r == 0) {
			if (reaped)
				break;
			continue;
		}
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i].fd, buf, sizeof(buf));
			if (n > 0) {
				write_all(ttys[i], buf, n);
			} else if (n == 0 || errno != EINTR) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_pipes--;
			}
		}
	}
	if (!reaped)
		waitpid(child, status, 0);
}

int main(void)
{
	static char job_argv[MAX_JOB], job_env[MAX_JOB], job_shares[MAX_JOB];
	static char cwd[4096], klog[1 << 20];
	int out_pipe[2], err_pipe[2], out_tty, err_tty, status = 0, code, n, i;
	char **argv, **envp, **shares, line[64];
	ssize_t len;
	pid_t child;

	mount_or_die("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	console = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	mount_or_die("proc", "/proc", "proc", 0, NULL);
	mount_or_die("sysfs", "/sys", "sysfs", 0, NULL);
	mount_or_die("faultcctl", CTL, "9p", 0,
		     "trans=virtio,version=9p2000.L,msize=262144,cache=none");
	/* The host root does not change while the guest runs: cache it. */
	mount_or_die("hostroot", ROOT, "9p", MS_RDONLY,
		     "trans=virtio,version=9p2000.L,msize=512000,cache=loose");

	len = read_file(CTL "/argv", job_argv, sizeof(job_argv));
	if (len <= 0) {
		say("faultc-init: no command in " CTL "/argv\n");
		leave(125);
	}
	argv = split_nul(job_argv, len);
	len = read_file(CTL "/env", job_env, sizeof(job_env));
	envp = split_nul(job_env, len < 0 ? 0 : len);
	if (read_file(CTL "/cwd", cwd, sizeof(cwd)) <= 0)
		snprintf(cwd, sizeof(cwd), "/");
	cwd[strcspn(cwd, "\n")] = '\0';
	len = read_file(CTL "/shares", job_shares, sizeof(job_shares));
	shares = split_nul(job_shares, len < 0 ? 0 : len);

	/* The chroot's own kernel file systems and scratch space. */
	mount_or_die("proc", ROOT "/proc", "proc", 0, NULL);
	mount_or_die("sysfs", ROOT "/sys", "sysfs", 0, NULL);
	mount_or_die("devtmpfs", ROOT "/dev", "devtmpfs", 0, NULL);
	mount_or_die("tmpfs", ROOT "/dev/shm", "tmpfs", 0, "mode=1777");
	mkdir(ROOT "/dev/pts", 0755);
	mount_optional("devpts", ROOT "/dev/pts", "devpts", "mode=620,ptmxmode=666");
	mount_or_die("tmpfs", ROOT "/tmp", "tmpfs", 0, "mode=1777");
	mount_or_die("tmpfs", ROOT "/run", "tmpfs", 0, "mode=755");
	mount_optional("bpf", ROOT "/sys/fs/bpf", "bpf", "mode=700");
	mount_optional("tracefs", ROOT "/sys/kernel/tracing", "tracefs", NULL);
	mount_optional("debugfs", ROOT "/sys/kernel/debug", "debugfs", NULL);
	mount_optional("cgroup2", ROOT "/sys/fs/cgroup", "cgroup2", NULL);

	/* Read-write shares at the same paths as on the host: tags share0.. */
	for (i = 0; shares[i]; i++) {
		char tag[32], dst[4200];

		snprintf(tag, sizeof(tag), "share%d", i);
		snprintf(dst, sizeof(dst), ROOT "%s", shares[i]);
		make_path(dst);
		mount_or_die(tag, dst, "9p", 0,
			     "trans=virtio,version=9p2000.L,msize=512000,cache=mmap");
	}

	out_tty = open_raw_tty("/dev/ttyS1");
	err_tty = open_raw_tty("/dev/ttyS2");
	if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
		fail("pipe");

	child = fork();
	if (child < 0)
		fail("fork");
	if (child == 0) {
		int null = open("/dev/null", O_RDONLY);

		setsid();
		dup2(null, 0);
		dup2(out_pipe[1], 1);
		dup2(err_pipe[1], 2);
		if (chroot(ROOT) || chdir("/")) {
			dprintf(2, "faultc-vm: chroot: %s\n", strerror(errno));
			_exit(125);
		}
		if (chdir(cwd)) {
			dprintf(2, "faultc-vm: %s is not visible in the guest: %s\n", cwd,
				strerror(errno));
			_exit(125);
		}
		environ = envp;
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(2, "faultc-vm: %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	relay(out_pipe[0], err_pipe[0], out_tty, err_tty, child, &status);
	tcdrain(out_tty);
	tcdrain(err_tty);

	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 125;

	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, klog, sizeof(klog));
	if (n > 0)
		write_file(CTL "/dmesg", klog, n);
	n = snprintf(line, sizeof(line), "%d\n", code);
	write_file(CTL "/status", line, n);
	leave(code);
}
