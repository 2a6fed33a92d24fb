import { NodeError } from '../errors.js'

/** Nix is not installed here (no `nix-store` on the PATH) or does not answer */
export class NixUnavailableError extends NodeError {
  constructor (detail: string) {
    super('ERR_NIX_UNAVAILABLE', `Nix is not usable on this machine: ${detail}`)
    this.name = 'NixUnavailableError'
  }
}

/** a `.nix` file that does not evaluate to exactly one derivation (bad input: exit 2) */
export class NixEvalError extends NodeError {
  constructor (file: string, detail: string) {
    super('ERR_NIX_EVAL', `${file}: ${detail}`)
    this.name = 'NixEvalError'
  }
}

/** a Nix command failed (the message carries what it printed) */
export class NixCommandError extends NodeError {
  constructor (command: string, readonly exitCode: number | null, readonly stderr: string) {
    super('ERR_NIX_COMMAND', `${command} failed${exitCode != null ? ` (exit ${exitCode})` : ''}${stderr !== '' ? `: ${lastLines(stderr)}` : ''}`)
    this.name = 'NixCommandError'
  }
}

/** a closure that is not what its job said it is: it lacks the derivation or output it should hold */
export class NixClosureError extends NodeError {
  constructor (message: string) {
    super('ERR_NIX_CLOSURE', message)
    this.name = 'NixClosureError'
  }
}

/** the last few lines of a command's error output, for a one-line reason */
function lastLines (text: string, count = 3): string {
  return text.trim().split('\n').slice(-count).join(' / ').slice(0, 1000)
}

/** the binary cache holds no such store path, or no NAR by that name (404) */
export class NixPathNotFoundError extends NodeError {
  constructor (message: string) {
    super('ERR_NIX_PATH_NOT_FOUND', message)
    this.name = 'NixPathNotFoundError'
  }
}

/** the node's binary cache signing key cannot be made or read: the cache does not serve (503) */
export class NixCacheKeyError extends NodeError {
  constructor (detail: string) {
    super('ERR_NIX_CACHE_KEY', `the Nix binary cache signing key is not usable: ${detail}`)
    this.name = 'NixCacheKeyError'
  }
}
