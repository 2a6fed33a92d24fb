/**
 * Virtual time for the lease model: the shared VirtualTime of protocols/lease (also what the mesh
 * simulator in bench/sim runs on). The real LeaseService classes run on it over a MemoryNetwork.
 */
export { VirtualTime, settle } from '../../../protocols/lease/virtual-time.js'
