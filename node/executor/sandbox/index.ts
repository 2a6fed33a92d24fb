/**
 * The job sandbox: every job runs as an unprivileged user (a build user of a root daemon, or a
 * user namespace) in namespaces of its own (bubblewrap), where the node's home does not exist.
 * docs/security.md describes what a job can and cannot reach.
 */
export { Sandbox } from './sandbox.js'
export type { Isolation, JobSandbox, OpenOptions, SandboxComponents, SandboxInit } from './sandbox.js'
export { BuildUsers, parseBuildUsers } from './build-users.js'
export { handOver, mayHandOver } from './ownership.js'
export { mountArgs, sandboxPathProblem, visibleAfter } from './mounts.js'
export { enterArgs, holderArgs, sandboxEntry, sandboxPlace } from './argv.js'
export type { JobAccount, NamespaceName, SandboxEntry, SandboxMode, SandboxPlace, SandboxPrograms } from './argv.js'
export * from './constants.js'
export * from './errors.js'
