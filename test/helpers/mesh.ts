import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cli, freePort, json, killAllDaemons, tempHome } from './cli.js'
import { ControlClient } from '../../cli/client.js'
import { isAlive, readLivePid } from '../../node/pidfile.js'

export interface MeshNode {
  name: string
  home: string
  port: number
  peerId: string
}

export interface TestMesh {
  nodes: MeshNode[]
  meshId: string
  /** run `cit-node ARGS --json` on a node and parse its output (fails on a non-zero exit) */
  run: (n: MeshNode, args: string[]) => Promise<any>
  /** the node's control API in this process (no CLI process per call: for polling loops) */
  api: (n: MeshNode) => ControlClient
  /** stop every daemon (by `stop`, then by pid) and remove the homes */
  close: () => Promise<void>
}

/**
 * Form a mesh of `count` daemons on 127.0.0.1 in temp homes: `init` on the first, `invite` +
 * `join` on the others. `config(i)` adds settings to a node's config.json (labels, slots…).
 */
export async function makeMesh (count: number, options: {
  config?: (i: number) => Record<string, unknown>
  labels?: (i: number) => string[]
  /** environment of node i's `init`/`join` (its daemon inherits it), e.g. the partition hook's file */
  env?: (i: number, home: string) => NodeJS.ProcessEnv
  /** roles of node i's invite (`--role`; the default invite's when undefined); node 0 is the admin */
  roles?: (i: number) => string | undefined
} = {}): Promise<TestMesh> {
  const temps: Array<{ cleanup: () => Promise<void> }> = []
  const nodes: MeshNode[] = []
  const run = async (n: MeshNode, args: string[], env?: NodeJS.ProcessEnv): Promise<any> => json(await cli([...args, '--json'], { home: n.home, env }))
  const close = async (): Promise<void> => {
    // the daemons `init` and `join` start are detached: if `stop` cannot reach one, its pid file names it
    const pids = await Promise.all(nodes.map(async n => await readLivePid(join(n.home, 'daemon.pid'))))
    await Promise.all(nodes.map(async n => await cli(['stop'], { home: n.home, timeoutMs: 20_000 })))
    await killAllDaemons()
    for (const pid of pids) if (pid != null && isAlive(pid)) process.kill(pid, 'SIGKILL')
    // CIT_KEEP_HOMES=1 keeps the homes (daemon logs, databases) to look at a failure
    if (process.env.CIT_KEEP_HOMES !== '1') for (const t of temps) await t.cleanup()
  }
  try {
    for (let i = 0; i < count; i++) {
      const t = await tempHome(`cit-m${i}-`)
      temps.push(t)
      // this machine runs many daemons at once: its load average says nothing about these nodes
      const logLevel = process.env.CIT_TEST_LOG_LEVEL != null ? { logLevel: process.env.CIT_TEST_LOG_LEVEL } : {}
      await writeFile(join(t.dir, 'config.json'), JSON.stringify({ loadLimit: 1000, ...logLevel, ...options.config?.(i) }))
      nodes.push({ name: `n${i}`, home: t.dir, port: await freePort(), peerId: '' })
    }
    const labelArgs = (i: number): string[] => (options.labels?.(i) ?? []).flatMap(l => ['--label', l])
    // init and join with the node's environment: the daemon they start inherits it
    const runIn = async (i: number, args: string[]): Promise<any> => await run(nodes[i], args, options.env?.(i, nodes[i].home))
    const init = await runIn(0, ['init', '--listen', `/ip4/127.0.0.1/tcp/${nodes[0].port}`, ...labelArgs(0)])
    nodes[0].peerId = init.peerId
    for (let i = 1; i < count; i++) {
      const roles = options.roles?.(i)
      const { token } = await run(nodes[0], ['invite', ...(roles != null ? ['--role', roles] : [])])
      nodes[i].peerId = (await runIn(i, ['join', token, '--listen', `/ip4/127.0.0.1/tcp/${nodes[i].port}`, ...labelArgs(i)])).peerId
    }
    const api = (n: MeshNode): ControlClient => new ControlClient(join(n.home, 'control.sock'), n.home)
    return { nodes, meshId: init.mesh, run, api, close }
  } catch (err) {
    await close()
    throw err
  }
}
