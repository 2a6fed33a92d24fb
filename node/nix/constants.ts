/** where a multi-user Nix's daemon listens */
export const NIX_DAEMON_SOCKET = '/nix/var/nix/daemon-socket/socket'
/** longest wait for a short Nix query (version, validity, hash, references) */
export const NIX_QUERY_TIMEOUT_MS = 60_000
/** longest wait for evaluating one `.nix` file */
export const NIX_EVAL_TIMEOUT_MS = 5 * 60_000
/** longest wait for an export or an import of one closure */
export const NIX_TRANSFER_TIMEOUT_MS = 30 * 60_000
/** most bytes of a Nix command's stdout kept (store path lists) */
export const MAX_NIX_STDOUT_BYTES = 4 * 1024 * 1024
/** most bytes of a Nix command's stderr kept for its error message */
export const MAX_NIX_STDERR_BYTES = 64 * 1024
/** how long a build gets between SIGTERM and SIGKILL when it is stopped */
export const NIX_KILL_GRACE_MS = 5000
/** the label a node with Nix offers, and the one a Nix job requires unless its file says otherwise */
export const NIX_LABEL = 'nix'
