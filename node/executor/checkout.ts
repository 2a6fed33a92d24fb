/**
 * The checkout of a triggered job's commit into its workspace, before anything of the job runs.
 * It runs like a step (in the job's terminal and sandbox, as the build user), so a job reads only
 * what its user may read, and git's safe.directory is the sandbox's (node/executor/sandbox).
 * The workspace keeps its `.git` and build outputs between runs of a name: incremental builds.
 */

/**
 * The shell script: every value comes from the environment (CIT_REPO_URL, CIT_COMMIT, CIT_REF),
 * never from the command text, so no repository URL or ref can inject a command. The exact
 * commit is fetched shallow; a server that refuses a fetch by commit id gets the ref instead,
 * then the commit must be there.
 */
export const CHECKOUT_SCRIPT = [
  'set -e',
  '[ -d .git ] || git init -q .',
  'git config core.autocrlf false',
  'git fetch -q --no-tags --depth 1 -- "$CIT_REPO_URL" "$CIT_COMMIT" 2>/dev/null || git fetch -q --no-tags -- "$CIT_REPO_URL" "$CIT_REF"',
  'git -c advice.detachedHead=false checkout -q -f --detach "$CIT_COMMIT"',
  'echo "cit: checked out $CIT_COMMIT ($CIT_REF) from $CIT_REPO"'
].join('\n')

/** the label of the checkout in the job's recording */
export const CHECKOUT_LABEL = 'checkout'
