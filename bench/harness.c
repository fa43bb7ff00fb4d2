/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-bench's harness: runs every case of cases.c with fdmsg, the
 * hand-written baseline (raw.c) and imsg (imsg.c) side by side, and prints
 * one table with the goals of issue #12.
 *
 * Every run is two fresh processes over a fresh socketpair, forked by an
 * orchestrator that only collects and prints: the sender (or ping-pong
 * client) and the receiver (or echo server).  Each repetition runs fdmsg,
 * then the baseline, then imsg (A B C A B C ...), so the machine's noise
 * hits all alike and the ratio within each repetition is what counts; the
 * table shows medians.  Each process measures its own phase after a
 * warm-up: wall time, CPU time and the allocations it made, counted by the
 * malloc/calloc/realloc interposed below.
 *
 * With --callgrind DIR the program runs under valgrind --tool=callgrind
 * --callgrind-out-file=DIR/cg.%p: each measured phase is bracketed by
 * CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS_AT and the table shows
 * instructions per message instead of rates (ci/bench --callgrind).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdmsg.h"

#include "bench.h"

#ifdef __GLIBC__
#include <execinfo.h>
#endif
#ifdef BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#endif
/* ------------------------------------------------------------------ */
/* Allocation counter                                                  */
/* ------------------------------------------------------------------ */

/*
 * Every allocation of the process goes through these (the shared library
 * included: the executable's definitions win symbol lookup).  glibc's own
 * entry points do the work, so free() needs no wrapper.  Sanitizers bring
 * their own malloc: no counter there.
 */
#if defined(__GLIBC__) && !defined(BENCH_NO_ALLOC_COUNT)
#define ALLOC_COUNT 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);

static uint64_t n_allocs;
static int trace_allocs; /* --trace-allocs: where measured ones come from */
static int measuring;

static void
count_alloc(void)
{
	static int in_trace;
	void *bt[16];
	int n;

	n_allocs++;
	if (trace_allocs && measuring && !in_trace) {
		in_trace = 1;
		n = backtrace(bt, 16);
		fprintf(stderr, "fdmsg-bench: allocation %" PRIu64
			" in a measured phase (pid %ld):\n", n_allocs,
			(long)getpid());
		backtrace_symbols_fd(bt, n, 2);
		in_trace = 0;
	}
}

void *
malloc(size_t n)
{
	count_alloc();
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t sz)
{
	count_alloc();
	return __libc_calloc(n, sz);
}

void *
realloc(void *p, size_t n)
{
	count_alloc();
	return __libc_realloc(p, n);
}
#else
#define ALLOC_COUNT 0
static uint64_t n_allocs;
static int trace_allocs;
static int measuring;
#endif


/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static int opt_reps = 7;
static double opt_time = 0.25; /* seconds per measured run */
static const char *opt_case;
static const char *opt_cgdir;
static int opt_info = 1;
static int opt_verbose;
static int opt_keep; /* keep callgrind dumps, renamed after their run */
static int opt_smoke; /* every role briefly; only a failed run counts */
int opt_sender = -1;

/*
 * Ping-pong runs both processes on this one CPU, as the issue measured it:
 * a round trip is then two system calls and two context switches, not the
 * wakeup latency between CPUs, which moves with whatever else runs.
 */
static int pin_cpu = -1;

static const char *const impl_names[NIMPL] = { "fdmsg", "raw", "imsg" };
static const char *const sender_names[] = { "queue", "more", "poll" };

/* ------------------------------------------------------------------ */
/* What the roles share                                                */
/* ------------------------------------------------------------------ */

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
mark_begin(struct res *rs)
{
#ifdef BENCH_HAVE_CALLGRIND
	CALLGRIND_ZERO_STATS;
#endif
	rs->allocs = n_allocs;
	rs->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	rs->t0 = clock_ns(CLOCK_MONOTONIC);
	measuring = 1;
}

void
mark_end(struct res *rs, const char *label)
{
	rs->t1 = clock_ns(CLOCK_MONOTONIC);
	rs->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - rs->cpu;
	rs->allocs = n_allocs - rs->allocs;
	measuring = 0;
#ifdef BENCH_HAVE_CALLGRIND
	CALLGRIND_DUMP_STATS_AT(label);
#else
	(void)label;
#endif
}

int
fail_at(struct res *rs, int err, const char *file, int line)
{
	if (rs->err == 0) {
		rs->err = err < 0 ? err : -EIO;
		rs->file = file;
		rs->line = line;
	}
	return rs->err;
}

int
wait_sync(int fd)
{
	char b;
	ssize_t k;

	do
		k = read(fd, &b, 1);
	while (k < 0 && errno == EINTR);
	return k == 1 ? 0 : k == 0 ? -EPIPE : -errno;
}

int
post_sync(int fd)
{
	char b = 1;

	return write(fd, &b, 1) == 1 ? 0 : -errno;
}

/* Sender or client, before frame i: the measured phase starts once the
 * receiver has had its warm-up. */
int
warm_wait(const struct role *x, size_t i, struct res *rs)
{
	int r;

	if (i != x->warm)
		return 0;
	if ((r = wait_sync(x->sync)) < 0)
		return r;
	mark_begin(rs);
	return 0;
}

/* Receiver or server, after frame i: the warm-up is over. */
int
warm_post(const struct role *x, size_t i, struct res *rs)
{
	if (i + 1 != x->warm)
		return 0;
	mark_begin(rs);
	return post_sync(x->sync);
}

/* A one-way sender: warm-up, wait for the receiver, the measured phase;
 * send writes n frames, each with the case's nfds of fds. */
int
run_sender(const struct role *x, struct res *rs, send_fn *send)
{
	int fds[SCM_MAX];
	int r;

	memset(fds, -1, sizeof(fds));
	if ((r = open_fds(fds, x->bc->nfds)) < 0 ||
	    (r = send(x, fds, x->warm)) < 0 || (r = wait_sync(x->sync)) < 0)
		goto out;
	mark_begin(rs);
	if ((r = send(x, fds, x->n)) < 0)
		goto out;
	mark_end(rs, x->label);
out:
	close_fds(fds, x->bc->nfds);
	return r;
}

/* A one-way receiver: recv takes one frame and checks it. */
int
run_receiver(const struct role *x, struct res *rs, recv_fn *recv)
{
	size_t i;
	int r;

	for (i = 0; i < x->warm + x->n; i++)
		if ((r = recv(x)) < 0 || (r = warm_post(x, i, rs)) < 0)
			return r;
	mark_end(rs, x->label);
	return 0;
}

/* Role `which` of a case: the ping-pong client or server, else the
 * one-way sender over send or receiver over recv; a failure reported. */
int
run_role(const struct role *x, int which, struct res *rs, role_fn *client,
	 role_fn *server, send_fn *send, recv_fn *recv)
{
	int r;

	if (x->bc->kind == K_PINGPONG)
		r = which == 0 ? client(x, rs) : server(x, rs);
	else
		r = which == 0 ? run_sender(x, rs, send) :
			     run_receiver(x, rs, recv);
	return r < 0 ? FAIL(r) : 0;
}

int
open_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return -errno;
	}
	return 0;
}

void
close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int
raw_frame_ok(const uint8_t *p, size_t n, uint32_t frame)
{
	return n == frame && p[0] == FDMSG_WIRE_VERSION &&
	       le32(p + 4) == frame && le32(p + 8) == BENCH_TYPE;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

/* One run's numbers, per message. */
struct run {
	double rate;       /* messages per second */
	double cpu[2];     /* ns of CPU per message: sender, receiver */
	double ir[2];      /* instructions per message (callgrind) */
	uint64_t allocs;   /* both processes, measured phase */
};

static int
role_main(const struct role *x, enum impl impl, int which, struct res *rs)
{
	if (x->bc->kind == K_DECODE)
		return decode_role(x, impl, rs);
	switch (impl) {
	case IMPL_FDMSG:
		return fdmsg_role(x, which, rs);
	case IMPL_RAW:
		return raw_role(x, which, rs);
	default:
		return imsg_role(x, which, rs);
	}
}

static int
read_full(int fd, void *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p = (uint8_t *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

/* Instructions of a process's measured phase, from its callgrind dump. */
static int
cg_read(pid_t pid, const char *label, const char *keep,
    uint64_t *ir)
{
	char path[4096], kpath[4096], line[512], want[256];
	unsigned long long v;
	int seen = 0, got = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cg.%ld.1", opt_cgdir, (long)pid);
	snprintf(want, sizeof(want), "desc: Trigger: Client Request: %s\n",
		 label);
	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, want) == 0)
			seen = 1;
		else if (sscanf(line, "summary: %llu", &v) == 1)
			got = 1;
	}
	fclose(f);
	if (!seen || !got)
		return -EBADMSG;
	*ir = v;
	if (opt_keep) {
		snprintf(kpath, sizeof(kpath), "%s/%s.%ld.out", opt_cgdir,
			 keep, (long)pid);
		if (rename(path, kpath) < 0)
			return -errno;
	} else {
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/cg.%ld", opt_cgdir, (long)pid);
	unlink(path);
	return 0;
}


static int
make_pair(const struct bcase *bc, enum impl impl, int sv[2])
{
	if (bc->kind == K_DECODE)
		return 0;
	if (impl == IMPL_FDMSG)
		return fdmsg_socketpair(bc->type, sv);
	return socketpair(AF_UNIX, bc->type | SOCK_CLOEXEC, 0, sv) < 0 ?
		       -errno : 0;
}

static int
run_once(const struct bcase *bc, enum impl impl, size_t warm, size_t n,
	 struct run *out)
{
	const int nproc = bc->kind == K_DECODE ? 1 : 2;
	int sv[2] = { -1, -1 }, syncp[2] = { -1, -1 }, rp[2][2];
	char label[2][128], kname[64];
	struct res rs[2];
	struct role x;
	pid_t pid[2] = { -1, -1 };
	int64_t t1;
	uint64_t ir;
	int i, r, st, ok = 1;

	memset(rs, 0, sizeof(rs));
	memset(out, 0, sizeof(*out));
	if ((r = make_pair(bc, impl, sv)) < 0) {
		fprintf(stderr, "socketpair: %s\n", strerror(-r));
		return -1;
	}
	/* Both ways: a role may tell the other when to start, too. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, syncp) < 0 ||
	    pipe2(rp[0], O_CLOEXEC) < 0 ||
	    pipe2(rp[1], O_CLOEXEC) < 0) {
		perror("pipe2");
		exit(3);
	}
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < nproc; i++) {
		snprintf(label[i], sizeof(label[i]), "fdmsg-bench %s %s %s",
			 bc->name, impl_names[impl],
			 i == 0 ? "sender" : "receiver");
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			exit(3);
		}
		if (pid[i] > 0)
			continue;
		/* Child: only its own socket end, sync end and result pipe. */
		alarm(opt_cgdir != NULL ? 3600 : 120);
		signal(SIGPIPE, SIG_IGN);
		if (nproc == 2)
			close(sv[1 - i]);
		close(i == 0 ? syncp[1] : syncp[0]);
		close(rp[0][0]);
		close(rp[1][0]);
		close(rp[1 - i][1]);
		x.bc = bc;
		x.sock = sv[i];
		x.sync = i == 0 ? syncp[0] : syncp[1];
		x.warm = warm;
		x.n = n;
		x.label = label[i];
		if (bc->kind == K_PINGPONG && pin_cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(pin_cpu, &set);
			(void)sched_setaffinity(0, sizeof(set), &set);
		}
		if (impl != IMPL_FDMSG)
			trace_allocs = 0; /* the goal is fdmsg's */
		(void)role_main(&x, impl, i, &rs[i]);
		if (write(rp[i][1], &rs[i], sizeof(rs[i])) < 0)
			_exit(3);
		/* Leave nothing open (valgrind --track-fds runs the smoke
		 * test); a role that owned its socket closed it already. */
		close(rp[i][1]);
		close(x.sync);
		if (x.sock >= 0 && fcntl(x.sock, F_GETFD) >= 0)
			close(x.sock);
		_exit(0);
	}
	for (i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	close(syncp[0]);
	close(syncp[1]);
	close(rp[0][1]);
	close(rp[1][1]);
	for (i = 0; i < nproc; i++) {
		if (read_full(rp[i][0], &rs[i], sizeof(rs[i])) < 0) {
			rs[i].err = -ECHILD;
			rs[i].file = "(no result)";
		}
	}
	close(rp[0][0]);
	close(rp[1][0]);
	for (i = 0; i < nproc; i++) {
		while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
			;
		if (rs[i].err != 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr, "%s: failed: %s (%s:%d, status %#x)\n",
				label[i], strerror(-rs[i].err),
				rs[i].file ? rs[i].file : "?", rs[i].line, st);
			ok = 0;
		}
	}
	if (!ok)
		return -1;

	t1 = rs[0].t1;
	if (nproc == 2 && rs[1].t1 > t1)
		t1 = rs[1].t1;
	out->rate = t1 > rs[0].t0 ? (double)n * 1e9 / (double)(t1 - rs[0].t0) :
				    0;
	/* One process, CPU-bound: preemption is not its cost. */
	if (nproc == 1 && rs[0].cpu > 0)
		out->rate = (double)n * 1e9 / (double)rs[0].cpu;
	for (i = 0; i < nproc; i++) {
		out->cpu[i] = (double)rs[i].cpu / (double)n;
		out->allocs += rs[i].allocs;
		if (opt_cgdir == NULL)
			continue;
		snprintf(kname, sizeof(kname), "c%02d-%s-%s",
			 (int)(bc - cases) + 1, impl_names[impl],
			 i == 0 ? "snd" : "rcv");
		if ((r = cg_read(pid[i], label[i], kname, &ir)) < 0) {
			fprintf(stderr, "%s: no callgrind dump for %ld: %s\n",
				label[i], (long)pid[i], strerror(-r));
			return -1;
		}
		out->ir[i] = (double)ir / (double)n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

#define MAX_REPS 64

static int
cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, int n)
{
	double s[64];
	int i;

	for (i = 0; i < n; i++)
		s[i] = v[i];
	qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double
vmin(const double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double
vmax(const double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static const char *
fmt_rate(char *b, size_t n, double v)
{
	if (v >= 1e9)
		snprintf(b, n, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(b, n, "%.2fM", v / 1e6);
	else
		snprintf(b, n, "%.1fk", v / 1e3);
	return b;
}


/* Frames per unit of a run: the decoder works 64 KiB at a time. */
static size_t
unit(const struct bcase *bc)
{
	return bc->kind == K_DECODE ? CHUNK / bc->frame : 1;
}

static size_t
round_up(size_t v, size_t u)
{
	return (v + u - 1) / u * u;
}

/* ------------------------------------------------------------------ */
/* Goals                                                               */
/* ------------------------------------------------------------------ */

#define MAX_GROWS 32

static struct {
	int rows, missed;
	const struct bcase *bc[MAX_GROWS];
	double v[MAX_GROWS];
} gs[NGOALS];

static int
goal_met(enum goal g, double v)
{
	return goal_defs[g].at_most ? v <= goal_defs[g].limit :
				      v >= goal_defs[g].limit;
}

/* The goal column of a row: "<=1.50 yes", or "" when the row has none. */
static const char *
goal_note(char *b, size_t n, enum goal g, double v)
{
	if (g == G_NONE)
		snprintf(b, n, "%s", "");
	else
		snprintf(b, n, "%s%.2f %s", goal_defs[g].at_most ? "<=" : ">=",
			 goal_defs[g].limit, goal_met(g, v) ? "yes" : "NO");
	return b;
}

static void
goal_add(enum goal g, const struct bcase *bc, double v)
{
	if (g == G_NONE || gs[g].rows == MAX_GROWS)
		return;
	gs[g].bc[gs[g].rows] = bc;
	gs[g].v[gs[g].rows++] = v;
	if (!goal_met(g, v))
		gs[g].missed++;
}

/* The goals of the issue, each met or not; 1 if one was missed. */
static int
goal_summary(void)
{
	const int cg = opt_cgdir != NULL;
	int g, i, missed = 0;

	printf("\ngoals of issue #12 (medians, ratios within each "
	       "repetition, same socket type):\n");
	for (g = 1; g < NGOALS; g++) {
		if (gs[g].rows == 0) {
			printf("  --       %s: %s\n", goal_defs[g].text,
			       g == G_ALLOCS || goal_defs[g].callgrind == cg ?
			       (g >= G_IMSG_ONEWAY && g <= G_IMSG_PINGPONG &&
				!imsg_built ? "imsg not built" :
				"no such case run") :
			       cg ? "measured by ci/bench" :
				    "measured by ci/bench --callgrind");
			continue;
		}
		printf("  %-8s %s\n", gs[g].missed ? "NOT MET" : "met",
		       goal_defs[g].text);
		missed |= gs[g].missed > 0;
		if (g == G_ALLOCS) {
			/* Only where there were any. */
			for (i = 0; i < gs[g].rows; i++)
				if (gs[g].v[i] > 0)
					printf("             %-36s %.0f\n",
					       gs[g].bc[i]->name, gs[g].v[i]);
			continue;
		}
		for (i = 0; i < gs[g].rows; i++)
			printf("             %-36s %.2f%s\n", gs[g].bc[i]->name,
			       gs[g].v[i], goal_met(g, gs[g].v[i]) ? "" :
			       "  (missed)");
	}
	return missed;
}

/* ------------------------------------------------------------------ */
/* One case                                                            */
/* ------------------------------------------------------------------ */

struct samples {
	double rate[NIMPL][MAX_REPS];
	double cpu[NIMPL][MAX_REPS];    /* both processes, ns per message */
	double ir[NIMPL][3][MAX_REPS];  /* sender, receiver, both */
	double ratio[NIMPL][MAX_REPS];  /* fdmsg rate / impl's */
	double irratio[NIMPL][3][MAX_REPS]; /* fdmsg Ir / impl's */
	uint64_t allocs[NIMPL];         /* worst repetition */
};

static void
print_rates(const struct bcase *bc, const char *dn, const int *use,
	    struct samples *s)
{
	const int n = opt_reps;
	char b[8][48];
	double fr, ri;
	int i;

	fr = median(s->ratio[IMPL_RAW], n);
	ri = use[IMPL_IMSG] ? median(s->ratio[IMPL_IMSG], n) : 0;
	if (use[IMPL_IMSG]) {
		fmt_rate(b[2], sizeof(b[2]), median(s->rate[IMPL_IMSG], n));
		snprintf(b[3], sizeof(b[3]), "%.2f", ri);
	} else {
		snprintf(b[2], sizeof(b[2]), "-");
		snprintf(b[3], sizeof(b[3]), "-");
	}
	b[6][0] = b[7][0] = '\0';
	for (i = 0; i < NIMPL; i++) {
		char c[24], a[24];

		if (use[i]) {
			snprintf(c, sizeof(c), "%.0f", median(s->cpu[i], n));
			snprintf(a, sizeof(a), "%" PRIu64, s->allocs[i]);
		} else {
			snprintf(c, sizeof(c), "-");
			snprintf(a, sizeof(a), "-");
		}
		if (!ALLOC_COUNT)
			snprintf(a, sizeof(a), "?");
		snprintf(b[6] + strlen(b[6]), sizeof(b[6]) - strlen(b[6]),
			 "%s%s", i ? "/" : "", c);
		snprintf(b[7] + strlen(b[7]), sizeof(b[7]) - strlen(b[7]),
			 "%s%s", i ? "/" : "", a);
	}
	printf("%-40s %7s %7s %5.2f [%4.2f-%4.2f] %-10s %7s %5s %-9s %14s "
	       "%s\n", dn, fmt_rate(b[0], sizeof(b[0]),
				    median(s->rate[IMPL_FDMSG], n)),
	       fmt_rate(b[1], sizeof(b[1]), median(s->rate[IMPL_RAW], n)), fr,
	       vmin(s->ratio[IMPL_RAW], n), vmax(s->ratio[IMPL_RAW], n),
	       goal_note(b[4], sizeof(b[4]), bc->goal, fr), b[2], b[3],
	       goal_note(b[5], sizeof(b[5]), use[IMPL_IMSG] ? bc->igoal :
			 G_NONE, ri), b[6], b[7]);
	if (bc->info)
		return;
	goal_add(bc->goal, bc, fr);
	if (use[IMPL_IMSG])
		goal_add(bc->igoal, bc, ri);
}

static void
print_ir(const struct bcase *bc, const char *dn, const int *use,
	 struct samples *s)
{
	const int n = opt_reps;
	char b[6][48];
	double v[3], gv;
	int i, j;

	for (i = 0; i < NIMPL; i++) {
		if (!use[i]) {
			snprintf(b[i], sizeof(b[i]), "-");
			continue;
		}
		if (bc->kind == K_DECODE)
			snprintf(b[i], sizeof(b[i]), "%.0f",
				 median(s->ir[i][0], n));
		else
			snprintf(b[i], sizeof(b[i]), "%.0f+%.0f",
				 median(s->ir[i][0], n),
				 median(s->ir[i][1], n));
	}
	for (j = 0; j < 3; j++)
		v[j] = median(s->irratio[IMPL_RAW][j], n);
	/* Ping-pong: each side on its own; one-way: both together. */
	gv = bc->kind == K_PINGPONG ? (v[0] > v[1] ? v[0] : v[1]) : v[2];
	if (use[IMPL_IMSG])
		snprintf(b[3], sizeof(b[3]), "%.2f",
			 median(s->irratio[IMPL_IMSG][2], n));
	else
		snprintf(b[3], sizeof(b[3]), "-");
	if (bc->kind == K_DECODE)
		snprintf(b[5], sizeof(b[5]), "%5s %5s %5.2f", "-", "-", v[2]);
	else
		snprintf(b[5], sizeof(b[5]), "%5.2f %5.2f %5.2f", v[0], v[1],
			 v[2]);
	printf("%-40s %11s %11s %11s  %-17s  %-10s %5s\n", dn, b[0], b[1],
	       b[2], b[5], goal_note(b[4], sizeof(b[4]), bc->irgoal, gv),
	       b[3]);
	if (!bc->info)
		goal_add(bc->irgoal, bc, gv);
}

/* 0, or -1: a run failed. */
static int
bench_case(const struct bcase *bc)
{
	static struct samples s;
	int use[NIMPL] = { 1, 1, 0 };
	size_t n0, n[NIMPL], warm[NIMPL];
	struct run rn;
	int rep, i, j;
	char dn[96];

	use[IMPL_IMSG] = bc->imsg && imsg_built;
	if (bc->kind == K_ONEWAY)
		snprintf(dn, sizeof(dn), "%s [%s]", bc->name,
			 sender_names[sender_of(bc)]);
	else
		snprintf(dn, sizeof(dn), "%s", bc->name);
	memset(&s, 0, sizeof(s));
	n0 = round_up(opt_smoke ? bc->n0 / 256 + 64 : bc->n0, unit(bc));
	for (i = 0; i < NIMPL; i++) {
		n[i] = n0;
		warm[i] = round_up(n0 / 8, unit(bc));
		/* Size each one's runs from a short run of it, to take
		 * opt_time: a rate measured over a few milliseconds is
		 * mostly the start of a run, not its steady state. */
		if (!use[i] || opt_cgdir != NULL || opt_smoke)
			continue;
		if (run_once(bc, (enum impl)i, warm[i], n0, &rn) < 0)
			return -1;
		if (rn.rate * opt_time > (double)n0)
			n[i] = round_up((size_t)(rn.rate * opt_time),
					unit(bc));
		warm[i] = round_up(n[i] / 8, unit(bc));
	}
	for (rep = 0; rep < opt_reps; rep++) {
		for (i = 0; i < NIMPL; i++) {
			if (!use[i])
				continue;
			if (run_once(bc, (enum impl)i, warm[i], n[i], &rn) < 0)
				return -1;
			s.rate[i][rep] = rn.rate;
			s.cpu[i][rep] = rn.cpu[0] + rn.cpu[1];
			s.ir[i][0][rep] = rn.ir[0];
			s.ir[i][1][rep] = rn.ir[1];
			s.ir[i][2][rep] = rn.ir[0] + rn.ir[1];
			if (rn.allocs > s.allocs[i])
				s.allocs[i] = rn.allocs;
			if (opt_verbose)
				fprintf(stderr, "  %s rep %d %s: %.0f/s, cpu "
					"%.0f+%.0f ns, ir %.0f+%.0f, allocs "
					"%" PRIu64 ", n %zu\n", bc->name, rep,
					impl_names[i], rn.rate, rn.cpu[0],
					rn.cpu[1], rn.ir[0], rn.ir[1],
					rn.allocs, n[i]);
		}
		for (i = 1; i < NIMPL; i++) {
			if (!use[i])
				continue;
			s.ratio[i][rep] = s.rate[0][rep] / s.rate[i][rep];
			for (j = 0; j < 3; j++)
				s.irratio[i][j][rep] = s.ir[i][j][rep] > 0 ?
					s.ir[0][j][rep] / s.ir[i][j][rep] : 0;
		}
	}
	if (opt_cgdir != NULL)
		print_ir(bc, dn, use, &s);
	else
		print_rates(bc, dn, use, &s);
	if (!bc->info && ALLOC_COUNT)
		goal_add(G_ALLOCS, bc, (double)s.allocs[IMPL_FDMSG]);
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

static double
loadavg(void)
{
	double load = -1;
	FILE *f;

	f = fopen("/proc/loadavg", "r");
	if (f != NULL) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1;
		fclose(f);
	}
	return load;
}

static void
machine(void)
{
	char line[256], model[128] = "unknown";
	struct utsname u;
	double load;
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "model name", 10) == 0) {
				char *p = strchr(line, ':');

				if (p != NULL) {
					snprintf(model, sizeof(model), "%s",
						 p + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	load = loadavg();
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	printf("machine: %ld CPUs, %s, %s %s %s, load %.2f at start\n",
	       sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release,
	       u.machine, load);
}


static void
usage(FILE *f)
{
	fprintf(f,
"usage: fdmsg-bench [--reps N] [--time SECONDS] [--case TEXT] [--no-info]\n"
"                   [--sender queue|more|poll] [--callgrind DIR]\n"
"                   [--keep-dumps] [--trace-allocs] [--smoke] [--list]\n"
"                   [-v] [-h]\n"
"  --reps N          repetitions of each case, implementations interleaved\n"
"                    (7; 1 with --callgrind)\n"
"  --time SECONDS    seconds per measured run (0.25)\n"
"  --case TEXT       only the cases whose name contains TEXT\n"
"  --no-info         only the rows with a goal\n"
"  --sender MODE     every one-way fdmsg sender: queue (fdmsg_send, flush on\n"
"                    -ENOBUFS), more (FDMSG_MORE) or poll (FDMSG_NO_QUEUE,\n"
"                    poll on -EAGAIN); default per case, shown in brackets\n"
"  --callgrind DIR   instructions per message, when run under valgrind\n"
"                    --tool=callgrind --callgrind-out-file=DIR/cg.%%p\n"
"  --keep-dumps      keep the dumps as DIR/cNN-IMPL-ROLE.PID.out\n"
"  --trace-allocs    a backtrace of every allocation of the fdmsg\n"
"                    processes after warm-up\n"
"  --smoke           every case once, briefly: exit 0 unless a run failed\n"
"                    (the goals are not judged; meson test runs this)\n"
"  --list            the case names\n"
"  -v                every run on stderr\n"
"  -h, --help        this text\n"
"Exit status: 0 every goal met, 1 a goal missed, 2 usage, 3 a run failed.\n");
}

static void
header(void)
{
	machine();
	printf("fdmsg one-way senders, in brackets: queue = fdmsg_send(0), "
	       "fdmsg_flush_wait on -ENOBUFS;\n  more = fdmsg_send(FDMSG_MORE)"
	       "%s; poll = FDMSG_NO_QUEUE, poll(POLLOUT) on -EAGAIN\n",
#ifdef FDMSG_MORE
	       ""
#else
	       " (not in this library: queue instead)"
#endif
	       );
	if (pin_cpu >= 0)
		printf("ping-pong: both processes on CPU %d\n", pin_cpu);
	printf("raw: hand-written sendmsg/recvmsg (bench/raw.c): one sendmsg "
	       "per 64 KiB of frames,\n  at most 253 descriptors each, the "
	       "receiver reading 64 KiB at a time\n");
#ifdef BENCH_IMSG_SOURCE
	printf("imsg: OpenBSD imsg from %s compat/ (bench/imsg.c), streams "
	       "only; a frame with 8\n  descriptors is 8 imsgs of one "
	       "descriptor each\n", BENCH_IMSG_SOURCE);
#else
	printf("imsg: not built (ci/bench builds it from Debian's tmux "
	       "source, when it can be had)\n");
#endif
	if (opt_cgdir != NULL) {
		printf("instructions per message (callgrind), measured phase "
		       "only; %d repetition%s\n\n", opt_reps,
		       opt_reps > 1 ? "s" : "");
		printf("%-40s %11s %11s %11s  %-17s  %-10s %5s\n", "case",
		       "fdmsg Ir", "raw Ir", "imsg Ir", "fdmsg/raw", "goal",
		       "fdmsg");
		printf("%-40s %11s %11s %11s  %-17s  %-10s %5s\n", "",
		       "snd+rcv", "snd+rcv", "snd+rcv", "  snd   rcv  both", "",
		       "/imsg");
	} else {
		if (opt_smoke)
			printf("smoke run: every case once, briefly; the "
			       "figures mean nothing\n\n");
		else
			printf("%d repetitions, implementations interleaved, "
			       "%.2f s each; medians\n\n", opt_reps,
			       opt_time);
		printf("%-40s %7s %7s %-17s %-10s %7s %5s %-9s %14s %s\n",
		       "case", "fdmsg/s", "raw/s", "fdmsg/raw [range]",
		       "goal", "imsg/s", "fdmsg", "goal", "CPU ns/msg",
		       "allocs");
		printf("%-40s %7s %7s %-17s %-10s %7s %5s %-9s %14s %s\n", "",
		       "", "", "", "", "", "/imsg", "", "fdmsg/raw/imsg",
		       "f/r/i");
	}
}

int
main(int argc, char **argv)
{
	int i, failed = 0, missed, reps_set = 0, info_seen = 0;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
			opt_reps = atoi(argv[++i]);
			reps_set = 1;
		} else if (strcmp(a, "--time") == 0 && i + 1 < argc) {
			opt_time = atof(argv[++i]);
		} else if (strcmp(a, "--case") == 0 && i + 1 < argc) {
			opt_case = argv[++i];
		} else if (strcmp(a, "--callgrind") == 0 && i + 1 < argc) {
			opt_cgdir = argv[++i];
		} else if (strcmp(a, "--no-info") == 0) {
			opt_info = 0;
		} else if (strcmp(a, "--sender") == 0 && i + 1 < argc) {
			for (opt_sender = 2; opt_sender >= 0; opt_sender--)
				if (strcmp(argv[i + 1],
					   sender_names[opt_sender]) == 0)
					break;
			i++;
			if (opt_sender < 0) {
				usage(stderr);
				return 2;
			}
		} else if (strcmp(a, "--smoke") == 0) {
			opt_smoke = 1;
		} else if (strcmp(a, "--trace-allocs") == 0) {
			trace_allocs = 1;
		} else if (strcmp(a, "--keep-dumps") == 0) {
			opt_keep = 1;
		} else if (strcmp(a, "-v") == 0) {
			opt_verbose = 1;
		} else if (strcmp(a, "--list") == 0) {
			for (k = 0; k < ncases; k++)
				printf("%s%s\n", cases[k].name, cases[k].info ?
				       " (information)" : "");
			return 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if ((opt_cgdir != NULL || opt_smoke) && !reps_set)
		opt_reps = 1;
	if (opt_reps < 1 || opt_reps > MAX_REPS || !(opt_time > 0)) {
		usage(stderr);
		return 2;
	}
#ifndef BENCH_HAVE_CALLGRIND
	if (opt_cgdir != NULL) {
		fprintf(stderr, "fdmsg-bench: built without "
			"<valgrind/callgrind.h>\n");
		return 2;
	}
#endif

	{
		cpu_set_t set;

		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			for (i = 0; i < CPU_SETSIZE && pin_cpu < 0; i++)
				if (CPU_ISSET(i, &set))
					pin_cpu = i;
	}
	header();
	fflush(stdout);
	for (k = 0; k < ncases; k++) {
		if (opt_case != NULL && strstr(cases[k].name, opt_case) == NULL)
			continue;
		if (!opt_info && cases[k].info)
			continue;
		if (cases[k].info && !info_seen++)
			printf("information, no goal: the other baselines of "
			       "raw.c (per msg: one sendmsg per\nmessage; "
			       "sendmmsg: one frame per datagram); decode only "
			       "against memcpy\n");
		if (bench_case(&cases[k]) < 0) {
			printf("%-40s FAILED\n", cases[k].name);
			failed++;
		}
	}
	if (opt_cgdir == NULL)
		printf("\nCPU: both processes, ns per message.  allocs: "
		       "malloc/calloc/realloc calls of both\nprocesses after "
		       "warm-up, worst repetition%s.\n", ALLOC_COUNT ? "" :
		       " (not counted in this build)");
	missed = goal_summary();
	printf("load %.2f at the end\n", loadavg());
	return failed ? 3 : missed && !opt_smoke ? 1 : 0;
}
