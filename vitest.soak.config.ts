import { defineConfig } from 'vitest/config'

/**
 * `npm run soak`: the chaos and fuzz suites and the lease protocol's model at soak sizes (CIT_SOAK=1: more jobs, kills,
 * partitions, fuzz cases; each size can be set by its own environment variable, see
 * docs/reliability.md). Not part of `npm test`. One file at a time: the chaos files each run
 * several daemons and their timings mean more on a machine that is not shared.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts', 'test/fuzz/**/*.test.ts', 'test/protocols/lease/model.test.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    maxWorkers: 1,
    setupFiles: ['test/helpers/setup.ts']
  }
})
