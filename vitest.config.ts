import { configDefaults, defineConfig } from 'vitest/config'

/**
 * `npm test`: two groups, one after the other. The reliability suite (test/chaos, test/fuzz) runs
 * after everything else: it kills daemons and saturates the machine on purpose, and the tests
 * of short lease and renewal times beside it would measure the load instead of the code.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // real daemons and ptys on a 2-core machine: keep parallelism modest
    maxWorkers: 2,
    setupFiles: ['test/helpers/setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/chaos/**', 'test/fuzz/**'],
          sequence: { groupOrder: 0 }
        }
      },
      {
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/chaos/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
          sequence: { groupOrder: 1 }
        }
      }
    ]
  }
})
