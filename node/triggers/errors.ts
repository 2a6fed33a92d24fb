import { NodeError } from '../errors.js'

/** no repository of that name is registered (`cit-node repo list`) */
export class RepoNotFoundError extends NodeError {
  constructor (name: string) {
    super('ERR_REPO_NOT_FOUND', `no repository named ${JSON.stringify(name)} is registered`)
    this.name = 'RepoNotFoundError'
  }
}

/** git could not fetch or read what a trigger needs (the repository, the commit, the job file) */
export class GitError extends NodeError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_GIT', message, options)
    this.name = 'GitError'
  }
}

/** a webhook refused before anything was read: its signature is missing or wrong */
export class BadWebhookSignatureError extends NodeError {
  constructor (message: string) {
    super('ERR_UNAUTHORIZED', message)
    this.name = 'BadWebhookSignatureError'
  }
}
