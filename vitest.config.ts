import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // real daemons and ptys on a 2-core machine: keep parallelism modest
    maxWorkers: 2,
    setupFiles: ['test/helpers/setup.ts']
  }
})
