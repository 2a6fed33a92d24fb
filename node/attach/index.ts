/**
 * The daemon's side of terminal attach: `AttachJobsAdapter` gives the attach service the node's
 * running jobs (JobService + Executor), `attachPolicy` decides who may attach how.
 * Wiring (node/cit-node.ts):
 *
 *   const attach = new AttachService({
 *     libp2p, logger,
 *     jobs: new AttachJobsAdapter({ jobs: jobService, executor }, { cols, rows }),
 *     authorize: attachPolicy({ trust, submitterOf: async id => (await jobService.get(id))?.submitter })
 *   })
 *   await attach.start()   // after libp2p; stop() before it
 */
export { AttachJobsAdapter } from './jobs.js'
export type { AttachJobsComponents, AttachJobsInit } from './jobs.js'
export { attachPolicy } from './policy.js'
export type { AttachPolicyComponents } from './policy.js'
