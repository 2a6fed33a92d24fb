/**
 * What the simulator observes of every job, from outside the nodes: when it was submitted, when
 * each node first heard of it, every run started (an execution) and every result accepted with a
 * verified finish certificate. Its summary is the run's figures.
 */
import { quantile } from '../stats.js'

export interface JobRecord {
  submitter: number
  submittedAt: number
  /** per node index, when it first heard the announcement (the submitter at submission) */
  heardAt: Map<number, number>
  /** when the lease of the first run was granted */
  grantedAt?: number
  executions: number
  /** distinct accepted results: `holder/outcome` */
  accepted: Set<string>
  acceptedAt?: number
  /** certificates that did not check (should stay 0) */
  badCerts: number
  /** nodes that heard the job's final event */
  doneAt: Map<number, number>
}

export interface Summary {
  jobs: number
  announce_p50_ms: number | null
  announce_p99_ms: number | null
  claim_p50_ms: number | null
  claim_p99_ms: number | null
  accepted_p50_ms: number | null
  duplicate_accepted: number
  lost: number
  duplicate_executions: number
  executions: number
  bad_certificates: number
  /** (job, node) pairs where the node never heard the announcement */
  unheard: number
  /** (job, node) pairs where the node never heard the job's result */
  result_unheard: number
}

function p (values: number[], q: number): number | null {
  return values.length === 0 ? null : Math.round(quantile([...values].sort((a, b) => a - b), q) * 10) / 10
}

export class Ledger {
  readonly jobs = new Map<string, JobRecord>()

  constructor (private readonly nodes: number) {}

  submitted (job: string, node: number, at: number): void {
    this.jobs.set(job, { submitter: node, submittedAt: at, heardAt: new Map([[node, at]]), executions: 0, accepted: new Set(), badCerts: 0, doneAt: new Map() })
  }

  heard (job: string, node: number, at: number): void {
    const r = this.jobs.get(job)
    if (r != null && !r.heardAt.has(node)) r.heardAt.set(node, at)
  }

  started (job: string, at: number): void {
    const r = this.jobs.get(job)
    if (r == null) return
    r.executions++
    r.grantedAt ??= at
  }

  accepted (job: string, key: string, certOk: boolean, at: number): void {
    const r = this.jobs.get(job)
    if (r == null) return
    if (!certOk) { r.badCerts++; return }
    r.accepted.add(key)
    r.acceptedAt ??= at
  }

  done (job: string, node: number, at: number): void {
    const r = this.jobs.get(job)
    if (r != null && !r.doneAt.has(node)) r.doneAt.set(node, at)
  }

  /** every job has an accepted result that every node heard of, and every node heard every job */
  complete (): boolean {
    for (const r of this.jobs.values()) {
      if (r.accepted.size === 0 || r.heardAt.size < this.nodes || r.doneAt.size < this.nodes) return false
    }
    return true
  }

  summary (): Summary {
    const announce: number[] = []
    const claim: number[] = []
    const accepted: number[] = []
    let unheard = 0
    let resultUnheard = 0
    const all = [...this.jobs.values()]
    for (const r of all) {
      for (const [node, at] of r.heardAt) if (node !== r.submitter) announce.push(at - r.submittedAt)
      unheard += this.nodes - r.heardAt.size
      resultUnheard += this.nodes - r.doneAt.size
      if (r.grantedAt != null) claim.push(r.grantedAt - r.submittedAt)
      if (r.acceptedAt != null) accepted.push(r.acceptedAt - r.submittedAt)
    }
    return {
      jobs: all.length,
      announce_p50_ms: p(announce, 0.5),
      announce_p99_ms: p(announce, 0.99),
      claim_p50_ms: p(claim, 0.5),
      claim_p99_ms: p(claim, 0.99),
      accepted_p50_ms: p(accepted, 0.5),
      duplicate_accepted: all.filter(r => r.accepted.size > 1).length,
      lost: all.filter(r => r.accepted.size === 0).length,
      duplicate_executions: all.filter(r => r.executions > 1).length,
      executions: all.reduce((n, r) => n + r.executions, 0),
      bad_certificates: all.reduce((n, r) => n + r.badCerts, 0),
      unheard,
      result_unheard: resultUnheard
    }
  }
}
