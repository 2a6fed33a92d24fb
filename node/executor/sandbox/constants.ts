/**
 * Fixed values of the job sandbox, each with its unit. docs/security.md describes what they mean
 * for a job; change one here and update the docs.
 */

/** where a job sees its workspace: the same path on every run and every node, naming nothing of the home */
export const SANDBOX_WORKSPACE = '/workspace'

/** the sandbox's own files (read-only), at the top of the job's root */
export const SANDBOX_OWN_DIR = '/.cit'

/**
 * git's system config inside the sandbox (GIT_CONFIG_SYSTEM points here): it trusts every
 * repository, then reads the host's. Since 2.35.2 git refuses a repository another user owns
 * ("dubious ownership"), a guard for shared machines; a build user owns none of what it may
 * read, and a job alone in its sandbox has no one to be guarded from.
 */
export const SANDBOX_GITCONFIG = `${SANDBOX_OWN_DIR}/gitconfig`
export const SANDBOX_GITCONFIG_TEXT = '[safe]\n\tdirectory = *\n[include]\n\tpath = /etc/gitconfig\n'

/** the job's private temporary directory (an empty tmpfs per job, shared by its steps) */
export const SANDBOX_TMP = '/tmp'

/** prefix of the build users a root daemon creates: `cit-build-1`, `cit-build-2`, … (like Nix's `nixbld1`) */
export const BUILD_USER_PREFIX = 'cit-build-'

/** the group every build user has as its primary group */
export const BUILD_GROUP = 'cit-build'

/** most build users a daemon creates (one per slot; slots are at most 1024) */
export const MAX_BUILD_USERS = 1024

/**
 * uid and gid a job has inside its user namespace when the daemon is not root: not 0 (a job is
 * never root, even in its own namespace) and the same on every machine. Outside, its files and
 * processes belong to the daemon's user, which the namespace maps to this id.
 */
export const USERNS_UID = 1000
export const USERNS_GID = 1000
/** USER and LOGNAME of a job in a user namespace */
export const USERNS_USER = 'cit-build'

/** where the sandbox's programs are looked for */
export const BWRAP_CANDIDATES: readonly string[] = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap']
export const NSENTER_CANDIDATES: readonly string[] = ['/usr/bin/nsenter', '/bin/nsenter']
export const SETPRIV_CANDIDATES: readonly string[] = ['/usr/bin/setpriv', '/bin/setpriv']
export const USERADD_CANDIDATES: readonly string[] = ['/usr/sbin/useradd', '/sbin/useradd']
export const GROUPADD_CANDIDATES: readonly string[] = ['/usr/sbin/groupadd', '/sbin/groupadd']
/** the login shell of build users: none */
export const NOLOGIN_CANDIDATES: readonly string[] = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false']

/** a job's sandbox must be up within this long, or the run fails */
export const SANDBOX_START_TIMEOUT_MS = 10_000

/** the probe at start (a sandbox that runs `id`) must finish within this long */
export const PROBE_TIMEOUT_MS = 20_000

/** useradd/groupadd that find /etc/passwd locked by another process are tried again this long */
export const USERADD_RETRY_MS = 10_000

/** most extra read-only and hidden paths in the node's config */
export const MAX_SANDBOX_PATHS = 64

/**
 * A directory leading to a hidden path is rebuilt in the sandbox entry by entry (a bind each)
 * so that the hidden path does not exist there at all; past this many entries it is bound whole
 * and the hidden path covered by an empty directory instead
 */
export const MAX_LISTED_ENTRIES = 256
