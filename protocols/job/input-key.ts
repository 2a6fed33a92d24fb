/**
 * The input key: the hash of what determines a job's result, the basis of the
 * result cache (`cache: true`). Two jobs with the same key are expected to
 * produce the same result, whatever they are called and however urgent they are.
 */
import { createHash } from 'node:crypto'
import { encode } from 'cborg'
import { INPUT_KEY_VERSION } from './constants.js'
import type { Hooks, JobSpec } from './types.js'

function hooksOf (hooks: Hooks): Hooks {
  // only the hooks present: `onStart: undefined` and no onStart must hash the same
  const out: Hooks = {}
  if (hooks.onStart !== undefined) out.onStart = hooks.onStart
  if (hooks.onSuccess !== undefined) out.onSuccess = hooks.onSuccess
  if (hooks.onFailure !== undefined) out.onFailure = hooks.onFailure
  return out
}

/**
 * sha256 (64 lowercase hex digits) of the canonical CBOR encoding (cborg sorts
 * map keys) of: the job's hooks, its stages (titles, hooks, steps with their
 * commands and ignoreExitCode), the resolved param values, the requirements and
 * the artefact globs, and `network` when it is `none` (a build cut off from the network may end
 * differently; absent, the key is what it was before the field existed). Not included: name,
 * priority, timeout, supersede, cache.
 * Titles are included because they appear in the job's log, which is part of its
 * result. `params` is the output of resolveParams.
 */
export function inputKey (spec: JobSpec, params: Record<string, string>): string {
  const canonical = {
    v: INPUT_KEY_VERSION,
    hooks: hooksOf(spec),
    stages: spec.stages.map((stage) => ({
      title: stage.title,
      hooks: hooksOf(stage),
      steps: stage.steps.map((step) => ({ title: step.title, command: step.command, ignoreExitCode: step.ignoreExitCode }))
    })),
    params: Object.fromEntries(Object.entries(params)),
    requires: {
      // a set: order and repeats must not change the key
      labels: [...new Set(spec.requires.labels)].sort(),
      cores: spec.requires.cores,
      memoryBytes: spec.requires.memoryBytes
    },
    artefacts: [...spec.artefacts],
    // the derivation path names everything its outputs depend on; absent for other jobs, so their
    // keys are what they were. The closure's hash is not an input: two exports of one derivation may differ
    ...(spec.nix !== undefined ? { nix: spec.nix.drv } : {}),
    ...(spec.network === 'none' ? { network: 'none' } : {})
  }
  return createHash('sha256').update(encode(canonical)).digest('hex')
}
