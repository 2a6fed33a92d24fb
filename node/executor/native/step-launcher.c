/*
 * cit-step: starts one step of a job in one process, where a shell wrapper, stty, nsenter and
 * setpriv took five execs and three or four forks (docs/executor.md, "How a step starts").
 *
 *   cit-step --sentinel TEXT --fsize BYTES [--nproc N] [--cgroup-procs FILE]... [--opost-off]
 *            [--target PID --target-start TICKS --ns LIST --uid N --gid N [--clear-groups] --cwd DIR]
 *            -- SHELL ARG...
 *   cit-step --hold READY ... [--ns LIST --uid N --gid N [--clear-groups] --cwd DIR] -- SHELL ARG...
 *
 * In order: joins the job's cgroups (its own pid into each cgroup.procs, so all the step starts is
 * born inside them), turns off output processing on its terminal (fd 0), sets RLIMIT_FSIZE (and
 * RLIMIT_NPROC), enters the namespaces of the sandbox's pid 1 (its start time checked, so a reused
 * pid is never entered; the user namespace first), forks (a pid namespace applies to children
 * only), and waits. The child drops to the job's account as setpriv did (no supplementary groups,
 * the bounding set and every other capability set empty, no_new_privs), checks that it did, moves
 * to the workspace and execs the shell. This process stays the session leader, never closes the
 * terminal early, ignores INT, TERM, HUP and QUIT through handlers (the child keeps their actions), and
 * once the child has exited prints the end sentinel and exits with the child's status, 128 + n
 * for a signal n, as a shell reports it.
 *
 * With --hold it is started ahead of its step, while the job is being set up: it joins the
 * cgroups (a migration may wait out an RCU grace period, milliseconds the step then does not
 * wait), sets its terminal and its limits, prints READY and waits, its terminal quiet (no echo,
 * no line editing, no signals from keys), for one line on it from the daemon: `go` without a
 * sandbox, `go PID TICKS` naming the sandbox's pid 1 and its start time, which a held launcher
 * cannot be told on its command line (the sandbox is started alongside it). Then it puts the
 * terminal back as it was, prints READY again (the daemon holds keys typed for the job until
 * then), enters the sandbox and goes on as above. Nothing of the job runs
 * before the go line; a daemon that goes away closes the terminal and the launcher fails.
 *
 * Its arguments come from the daemon alone; all the same every one is checked and anything amiss
 * stops it before it changes anything, with a `cit:` line and status 125 (WRAPPER_FAILED_EXIT).
 * So does every failure to apply a limit or to drop a privilege: the shell never runs then.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define FAILED_EXIT 125
#define MAX_PROCS_FILES 16
#define MAX_SENTINEL 64
#define MAX_GO_LINE 64
#define MAX_PID 4194304ULL /* PID_MAX_LIMIT */
#define MAX_ID 4294967294ULL /* (uid_t)-1 means "unchanged" to the kernel: never an account */

/* the namespaces that may be entered, in the order they are: user first (it grants the right to enter the rest) */
static const struct { const char *name; int type; } NAMESPACES[] = {
  { "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS }
};
#define N_NAMESPACES (sizeof NAMESPACES / sizeof NAMESPACES[0])

struct options {
  const char *sentinel;
  unsigned long long fsize;
  unsigned long long nproc; /* 0: not set */
  const char *procs[MAX_PROCS_FILES];
  int n_procs;
  int opost_off;
  unsigned long long target; /* 0: no sandbox */
  const char *target_start;
  int ns[N_NAMESPACES];
  unsigned long long uid, gid;
  int has_uid, has_gid, clear_groups;
  const char *cwd;
  const char *ready; /* --hold: printed once set up; the target then comes from the go line */
  int boxed; /* a sandbox is entered */
  char **command;
};

static void fail (const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  dprintf(2, "cit: %s\n", line);
  _exit(FAILED_EXIT);
}

/* a whole number in decimal, digits only, from min to max */
static unsigned long long number (const char *option, const char *text, unsigned long long min, unsigned long long max) {
  if (text == NULL || *text == '\0' || strlen(text) > 20) fail("the step launcher: %s needs a number", option);
  unsigned long long n = 0;
  for (const char *p = text; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') fail("the step launcher: %s: not a whole number: %s", option, text);
    if (n > (ULLONG_MAX - (unsigned)(*p - '0')) / 10) fail("the step launcher: %s: too large", option);
    n = n * 10 + (unsigned)(*p - '0');
  }
  if (n < min || n > max) fail("the step launcher: %s: %s is out of range", option, text);
  return n;
}

/* an absolute path without `.` or `..` components or empty ones */
static const char *path (const char *option, const char *text) {
  if (text == NULL || text[0] != '/' || strlen(text) >= PATH_MAX) fail("the step launcher: %s needs an absolute path", option);
  for (const char *p = text; *p != '\0'; p++) {
    if (*p != '/') continue;
    const char *c = p + 1;
    size_t len = strcspn(c, "/");
    if ((len == 0 && c[0] != '\0') || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) {
      fail("the step launcher: %s: not a plain absolute path: %s", option, text);
    }
  }
  return text;
}

static int ends_with (const char *text, const char *tail) {
  size_t a = strlen(text), b = strlen(tail);
  return a >= b && strcmp(text + a - b, tail) == 0;
}

static void parse_ns (struct options *o, const char *list) {
  if (list == NULL || *list == '\0') fail("the step launcher: --ns needs a list of namespaces");
  char copy[64];
  if (strlen(list) >= sizeof copy) fail("the step launcher: --ns: list too long");
  strcpy(copy, list);
  char *save = NULL;
  for (char *name = strtok_r(copy, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save)) {
    size_t i = 0;
    while (i < N_NAMESPACES && strcmp(NAMESPACES[i].name, name) != 0) i++;
    if (i == N_NAMESPACES) fail("the step launcher: --ns: unknown namespace %s", name);
    if (o->ns[i]) fail("the step launcher: --ns: %s given twice", name);
    o->ns[i] = 1;
  }
}

static void parse (struct options *o, int argc, char **argv) {
  int seen_fsize = 0, seen_target = 0, seen_ns = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--opost-off") == 0) { if (o->opost_off++) fail("the step launcher: %s given twice", a); continue; }
    if (strcmp(a, "--clear-groups") == 0) { if (o->clear_groups++) fail("the step launcher: %s given twice", a); continue; }
    if (v == NULL) fail("the step launcher: %s needs a value", a);
    i++;
    if (strcmp(a, "--sentinel") == 0) {
      if (o->sentinel != NULL) fail("the step launcher: %s given twice", a);
      if (*v == '\0' || strlen(v) > MAX_SENTINEL) fail("the step launcher: --sentinel: 1 to %d bytes", MAX_SENTINEL);
      o->sentinel = v;
    } else if (strcmp(a, "--hold") == 0) {
      if (o->ready != NULL) fail("the step launcher: %s given twice", a);
      if (*v == '\0' || strlen(v) > MAX_SENTINEL) fail("the step launcher: --hold: 1 to %d bytes", MAX_SENTINEL);
      o->ready = v;
    } else if (strcmp(a, "--fsize") == 0) {
      if (seen_fsize++) fail("the step launcher: %s given twice", a);
      o->fsize = number(a, v, 1, (unsigned long long)LLONG_MAX);
    } else if (strcmp(a, "--nproc") == 0) {
      if (o->nproc != 0) fail("the step launcher: %s given twice", a);
      o->nproc = number(a, v, 1, INT_MAX);
    } else if (strcmp(a, "--cgroup-procs") == 0) {
      if (o->n_procs == MAX_PROCS_FILES) fail("the step launcher: more than %d cgroups", MAX_PROCS_FILES);
      if (!ends_with(path(a, v), "/cgroup.procs")) fail("the step launcher: --cgroup-procs: not a cgroup.procs file: %s", v);
      o->procs[o->n_procs++] = v;
    } else if (strcmp(a, "--target") == 0) {
      if (seen_target++) fail("the step launcher: %s given twice", a);
      o->target = number(a, v, 2, MAX_PID);
    } else if (strcmp(a, "--target-start") == 0) {
      if (o->target_start != NULL) fail("the step launcher: %s given twice", a);
      number(a, v, 0, ULLONG_MAX);
      o->target_start = v;
    } else if (strcmp(a, "--ns") == 0) {
      if (seen_ns++) fail("the step launcher: %s given twice", a);
      parse_ns(o, v);
    } else if (strcmp(a, "--uid") == 0) {
      if (o->has_uid++) fail("the step launcher: %s given twice", a);
      o->uid = number(a, v, 1, MAX_ID);
    } else if (strcmp(a, "--gid") == 0) {
      if (o->has_gid++) fail("the step launcher: %s given twice", a);
      o->gid = number(a, v, 1, MAX_ID);
    } else if (strcmp(a, "--cwd") == 0) {
      if (o->cwd != NULL) fail("the step launcher: %s given twice", a);
      o->cwd = path(a, v);
    } else {
      fail("the step launcher: unknown option %s", a);
    }
  }
  if (o->sentinel == NULL) fail("the step launcher: --sentinel is required");
  if (!seen_fsize) fail("the step launcher: --fsize is required");
  if (i >= argc) fail("the step launcher: no command after --");
  o->command = argv + i;
  path("the command", o->command[0]);
  if (o->ready != NULL && (o->target != 0 || o->target_start != NULL)) fail("the step launcher: --hold takes the target from its go line, not --target");
  /* held, the sandbox's options without a target say that the go line will name one */
  o->boxed = o->ready != NULL ? (seen_ns || o->has_uid || o->has_gid || o->clear_groups || o->cwd != NULL) : o->target != 0;
  if (o->boxed) {
    if ((o->ready == NULL && o->target_start == NULL) || !seen_ns || !o->has_uid || !o->has_gid || o->cwd == NULL) {
      fail(o->ready != NULL ? "the step launcher: a held launch into a sandbox needs --ns, --uid, --gid and --cwd" : "the step launcher: --target needs --target-start, --ns, --uid, --gid and --cwd");
    }
    /* a sandbox has its own mount, pid and ipc namespaces; entering fewer would run the step half outside */
    for (size_t n = 1; n < N_NAMESPACES; n++) {
      if (NAMESPACES[n].type != CLONE_NEWNET && !o->ns[n]) fail("the step launcher: --ns must name ipc, pid and mnt");
    }
    /* supplementary groups cannot be set in a user namespace (bubblewrap denies setgroups there) */
    if (o->ns[0] && o->clear_groups) fail("the step launcher: --clear-groups and the user namespace exclude each other");
    if (!o->ns[0] && !o->clear_groups) fail("the step launcher: outside a user namespace --clear-groups is required");
  } else if (o->target_start != NULL || seen_ns || o->has_uid || o->has_gid || o->clear_groups || o->cwd != NULL) {
    fail("the step launcher: --target-start, --ns, --uid, --gid, --clear-groups and --cwd need --target");
  }
}

static void join_cgroups (const struct options *o) {
  char pid[24];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  for (int i = 0; i < o->n_procs; i++) {
    errno = 0;
    int fd = open(o->procs[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || write(fd, pid, (size_t)len) != len) fail("cannot join the job's cgroup (%s): %s", o->procs[i], errno != 0 ? strerror(errno) : "short write");
    close(fd);
  }
}

static void set_limit (int resource, const char *name, unsigned long long value) {
  struct rlimit r = { (rlim_t)value, (rlim_t)value };
  if (setrlimit(resource, &r) != 0) fail("cannot set %s to %llu: %s", name, value, strerror(errno));
}

static void write_all (int fd, const char *text) {
  size_t left = strlen(text);
  for (const char *s = text; left > 0;) {
    ssize_t n = write(fd, s, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write to the terminal: %s", n < 0 ? strerror(errno) : "nothing written");
    s += n;
    left -= (size_t)n;
  }
}

/*
 * --hold: says READY on the terminal and waits for the daemon's go line on it, the terminal quiet
 * meanwhile (the daemon writes only once it has read READY, so the line is never echoed); then
 * puts the terminal back. The line names the sandbox's pid 1 and start time when one is entered.
 */
static void wait_for_go (struct options *o, char *target_start, size_t size) {
  struct termios saved, quiet;
  if (tcgetattr(0, &saved) != 0) fail("cannot read the terminal's settings: %s", strerror(errno));
  quiet = saved;
  quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  quiet.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IGNCR | IXON);
  quiet.c_cc[VMIN] = 1;
  quiet.c_cc[VTIME] = 0;
  if (tcsetattr(0, TCSANOW, &quiet) != 0) fail("cannot quiet the terminal: %s", strerror(errno));
  write_all(1, o->ready);
  char line[MAX_GO_LINE + 1];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(0, line + n, MAX_GO_LINE - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("the step launcher: no go line (%s)", r < 0 ? strerror(errno) : "end of input");
    n += (size_t)r;
    char *end = memchr(line, '\n', n);
    if (end != NULL) {
      if ((size_t)(end - line) != n - 1) fail("the step launcher: input after the go line");
      *end = '\0';
      break;
    }
    if (n == MAX_GO_LINE) fail("the step launcher: the go line is too long");
  }
  if (tcsetattr(0, TCSANOW, &saved) != 0) fail("cannot restore the terminal: %s", strerror(errno));
  /* said again: keys the daemon holds back meanwhile now reach the terminal as it was set up */
  write_all(1, o->ready);
  char *save = NULL;
  const char *word = strtok_r(line, " ", &save);
  if (word == NULL || strcmp(word, "go") != 0) fail("the step launcher: not a go line");
  const char *pid = strtok_r(NULL, " ", &save);
  const char *start = strtok_r(NULL, " ", &save);
  if (strtok_r(NULL, " ", &save) != NULL) fail("the step launcher: the go line has too many words");
  if (!o->boxed) {
    if (pid != NULL) fail("the step launcher: a go line names a sandbox, none was expected");
    return;
  }
  if (pid == NULL || start == NULL) fail("the step launcher: the go line names no sandbox");
  o->target = number("the go line's pid", pid, 2, MAX_PID);
  number("the go line's start time", start, 0, ULLONG_MAX);
  if (strlen(start) >= size) fail("the step launcher: the go line's start time is too long");
  strcpy(target_start, start);
  o->target_start = target_start;
}

/* opens the target's namespaces through one descriptor of its /proc directory, which pins that process: a pid reused since it was named cannot be entered */
static void open_namespaces (const struct options *o, int fds[N_NAMESPACES]) {
  char dir[32];
  snprintf(dir, sizeof dir, "/proc/%llu", o->target);
  int proc = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) fail("the job's sandbox has ended (%s): %s", dir, strerror(errno));
  char stat[1024];
  int sfd = openat(proc, "stat", O_RDONLY | O_CLOEXEC);
  ssize_t n = sfd < 0 ? -1 : read(sfd, stat, sizeof stat - 1);
  if (sfd >= 0) close(sfd);
  if (n <= 0) fail("the job's sandbox has ended (%s/stat)", dir);
  stat[n] = '\0';
  /* starttime is field 22; the command name (field 2) may hold spaces and parentheses */
  char *p = strrchr(stat, ')');
  for (int field = 2; p != NULL && field < 22; field++) p = strchr(p + 1, ' ');
  size_t want = strlen(o->target_start);
  if (p == NULL || strncmp(p + 1, o->target_start, want) != 0 || (p[1 + want] != ' ' && p[1 + want] != '\0')) {
    fail("the job's sandbox has ended (pid %llu is another process now)", o->target);
  }
  for (size_t i = 0; i < N_NAMESPACES; i++) {
    fds[i] = -1;
    if (!o->ns[i]) continue;
    char name[16];
    snprintf(name, sizeof name, "ns/%s", NAMESPACES[i].name);
    fds[i] = openat(proc, name, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) fail("cannot open the sandbox's %s namespace: %s", NAMESPACES[i].name, strerror(errno));
  }
  close(proc);
}

static void enter_namespaces (int fds[N_NAMESPACES]) {
  for (size_t i = 0; i < N_NAMESPACES; i++) {
    if (fds[i] < 0) continue;
    if (setns(fds[i], NAMESPACES[i].type) != 0) fail("cannot enter the sandbox's %s namespace: %s", NAMESPACES[i].name, strerror(errno));
    close(fds[i]);
  }
}

static int capset_zero (void) {
  struct __user_cap_header_struct head = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  return (int)syscall(SYS_capset, &head, data);
}

static int caps_are_zero (void) {
  struct __user_cap_header_struct head = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &head, data) != 0) return 0;
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
    if (data[i].effective != 0 || data[i].permitted != 0 || data[i].inheritable != 0) return 0;
  }
  return 1;
}

/* the child, in the sandbox: the job's account and nothing more, or no step at all */
static void drop_privileges (const struct options *o) {
  uid_t uid = (uid_t)o->uid;
  gid_t gid = (gid_t)o->gid;
  if (o->clear_groups && setgroups(0, NULL) != 0) fail("cannot clear the supplementary groups: %s", strerror(errno));
  /* the bounding set while CAP_SETPCAP is still held: no file capability can bring one back */
  int cap = 0;
  for (; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) fail("cannot drop capability %d from the bounding set: %s", cap, strerror(errno));
  }
  if (cap == 0) fail("cannot read the capability bounding set: %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail("cannot clear the ambient capabilities: %s", strerror(errno));
  if (setresgid(gid, gid, gid) != 0) fail("cannot set the group to %u: %s", (unsigned)gid, strerror(errno));
  if (setresuid(uid, uid, uid) != 0) fail("cannot set the user to %u: %s", (unsigned)uid, strerror(errno));
  if (capset_zero() != 0) fail("cannot clear the capabilities: %s", strerror(errno));
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("cannot set no_new_privs: %s", strerror(errno));
  /* checked, not assumed: a kernel that refused one of these silently must not run the step */
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || ru != uid || eu != uid || su != uid) fail("the user did not change to %u", (unsigned)uid);
  if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid) fail("the group did not change to %u", (unsigned)gid);
  if (o->clear_groups && getgroups(0, NULL) != 0) fail("supplementary groups are left");
  if (!caps_are_zero()) fail("capabilities are left");
  for (int c = 0; c < cap; c++) {
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 0) fail("capability %d is left in the bounding set", c);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) != 0) fail("capability %d is left in the ambient set", c);
  }
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) fail("no_new_privs is not set");
}

static void on_signal (int sig) { (void)sig; }

/* QUIT too: a job can send ^\ to its own foreground group (TIOCSTI), which is this process's */
static const int KEPT_SIGNALS[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_KEPT (sizeof KEPT_SIGNALS / sizeof KEPT_SIGNALS[0])

int main (int argc, char **argv) {
  static struct options o;
  parse(&o, argc, argv);
  /* never a core file of this root process, nor a ptrace or /proc peek into it by the job's user */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail("cannot make the launcher undumpable: %s", strerror(errno));

  join_cgroups(&o);
  if (o.opost_off) {
    struct termios t;
    if (tcgetattr(0, &t) != 0) fail("cannot read the terminal's settings: %s", strerror(errno));
    t.c_oflag &= ~(tcflag_t)OPOST;
    if (tcsetattr(0, TCSANOW, &t) != 0) fail("cannot turn off output processing: %s", strerror(errno));
  }
  set_limit(RLIMIT_FSIZE, "the file size limit", o.fsize);
  if (o.nproc != 0) set_limit(RLIMIT_NPROC, "the process limit", o.nproc);

  static char target_start[24];
  if (o.ready != NULL) wait_for_go(&o, target_start, sizeof target_start);
  if (o.boxed) {
    int fds[N_NAMESPACES];
    open_namespaces(&o, fds);
    enter_namespaces(fds);
  }

  /* blocked until each side has its own actions: a signal between fork and exec reaches the child with the action it came with */
  sigset_t kept, before;
  sigemptyset(&kept);
  for (size_t i = 0; i < N_KEPT; i++) sigaddset(&kept, KEPT_SIGNALS[i]);
  if (sigprocmask(SIG_BLOCK, &kept, &before) != 0) fail("cannot block signals: %s", strerror(errno));
  struct sigaction handler, original[N_KEPT];
  memset(&handler, 0, sizeof handler);
  handler.sa_handler = on_signal;
  sigemptyset(&handler.sa_mask);
  for (size_t i = 0; i < N_KEPT; i++) {
    if (sigaction(KEPT_SIGNALS[i], &handler, &original[i]) != 0) fail("cannot set a signal handler: %s", strerror(errno));
  }

  pid_t child = fork();
  if (child < 0) fail("cannot fork: %s", strerror(errno));
  if (child == 0) {
    for (size_t i = 0; i < N_KEPT; i++) sigaction(KEPT_SIGNALS[i], &original[i], NULL);
    sigprocmask(SIG_SETMASK, &before, NULL);
    if (o.boxed) {
      drop_privileges(&o);
      if (chdir(o.cwd) != 0) fail("cannot enter the workspace %s: %s", o.cwd, strerror(errno));
    }
    execv(o.command[0], o.command);
    int err = errno;
    dprintf(2, "cit: cannot run %s: %s\n", o.command[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }
  sigprocmask(SIG_SETMASK, &before, NULL);

  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) fail("cannot wait for the step: %s", strerror(errno));
  }
  size_t left = strlen(o.sentinel);
  for (const char *s = o.sentinel; left > 0;) {
    ssize_t n = write(1, s, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s += n;
    left -= (size_t)n;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : FAILED_EXIT;
}
