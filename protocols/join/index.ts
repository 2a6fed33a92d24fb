/**
 * Joining a mesh (`/cit/join/1.0.0`): a new machine, connected under its token's invite key,
 * hands a member its enrollment record and receives the mesh's trust records.
 */
export { requestJoin, JoinService, JoinRefusedError } from './join.js'
export type { JoinReply, JoinServiceComponents } from './join.js'
export * from './constants.js'
