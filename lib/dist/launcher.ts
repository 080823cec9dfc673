/**
 * The built-in launcher (`train|mlm --nproc-per-node N [--nnodes M --node-rank R --master-addr H --master-port P]`):
 * starts N workers of the same command on this node with torchrun's environment contract, forwards signals to them,
 * and exits with the first failure. No Python: each worker is this CLI again, which sees WORLD_SIZE and joins the
 * process group (lib/dist/run.ts). Workers run in their own process group, so a terminal's Ctrl-C reaches them once,
 * through the launcher: every worker finishes its step, rank 0 saves a checkpoint, and all exit 130. A worker whose
 * launcher disappears (its IPC channel closes) stops the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { DEFAULT_MASTER_PORT } from './env';

/** The launcher's flags (torchrun's names). */
export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  /** Default 127.0.0.1 on one node; required with several. */
  masterAddr?: string;
  /** Default: a free port on one node, 29500 with several. */
  masterPort?: number;
}

/** The launcher's flags as they appear on a command line (each takes a value). */
export const LAUNCH_FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'];

/** How long workers get to notice a failed peer themselves (and rank 0 to save) before the launcher stops them. */
const GRACE_MS = 45_000;
/** The CLI entry a worker runs (bin/ from both lib/dist and dist/dist). */
const CLI = path.join(__dirname, '..', '..', 'bin', 'radbert-native.js');

/** `args` without the launcher's flags and their values (what each worker gets). */
export function workerArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = LAUNCH_FLAGS.find((f) => args[i] === f || args[i].startsWith(`${f}=`));
    if (!flag) out.push(args[i]);
    else if (args[i] === flag) i++; // its value
  }
  return out;
}

/** A port nobody listens on now on `host` (one node: the rendezvous needs no agreed port). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The environment of local worker `i`: torchrun's variables, and one OpenMP thread team's share of the cores. */
export function workerEnv(o: Required<LaunchOptions>, i: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    RANK: String(o.nodeRank * o.nprocPerNode + i),
    LOCAL_RANK: String(i),
    WORLD_SIZE: String(o.nnodes * o.nprocPerNode),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
    OMP_NUM_THREADS: base.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / o.nprocPerNode))),
    RADBERT_LAUNCHER: '1',
  };
}

/**
 * Run `command args` as nprocPerNode workers of this node and resolve to the exit code: 0 when all succeed, 130 after
 * an interrupt, else the first failing worker's code (a worker killed by a signal counts as 1).
 */
export async function launch(command: string, args: string[], lo: LaunchOptions): Promise<number> {
  if (lo.nodeRank >= lo.nnodes) throw new UsageError(`--node-rank ${lo.nodeRank} must be below --nnodes ${lo.nnodes}`);
  if (lo.nnodes > 1 && !lo.masterAddr) throw new UsageError('--nnodes > 1 needs --master-addr (the host of node rank 0, reachable from every node)');
  const masterAddr = lo.masterAddr ?? '127.0.0.1';
  const masterPort = lo.masterPort ?? (lo.nnodes === 1 ? await freePort(masterAddr) : DEFAULT_MASTER_PORT);
  const o = { ...lo, masterAddr, masterPort };
  const say = (m: string) => process.stderr.write(`radbert-native launcher: ${m}\n`);
  const children: ChildProcess[] = [];
  const exits: Array<{ code: number | null; signal: NodeJS.Signals | null } | undefined> = [];
  let interrupts = 0;
  let failure: { rank: number; code: number; why: string } | undefined;
  let stopTimer: NodeJS.Timeout | undefined;
  const rankOf = (i: number) => o.nodeRank * o.nprocPerNode + i;
  const forward = (signal: NodeJS.Signals) => children.forEach((c, i) => exits[i] || c.kill(signal));

  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) say('Ctrl-C: every worker finishes its step, rank 0 saves a checkpoint (Ctrl-C again to stop them at once)');
    forward('SIGINT');
  };
  const onSigterm = () => forward('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('SIGHUP', onSigterm);
  const argv = [CLI, command, ...workerArgs(args)];
  say(`${o.nprocPerNode} worker(s) of node ${o.nodeRank}/${o.nnodes}: ranks ${rankOf(0)}-${rankOf(o.nprocPerNode - 1)} of ${o.nnodes * o.nprocPerNode}; rendezvous at ${masterAddr}:${masterPort}`);
  try {
    return await new Promise<number>((resolve) => {
      const settle = () => {
        if (exits.filter(Boolean).length < children.length) return;
        if (stopTimer) clearTimeout(stopTimer);
        const codes = exits.map((e) => e!.code);
        resolve(failure ? failure.code : codes.every((c) => c === 0) ? 0 : codes.includes(130) ? 130 : 1);
      };
      for (let i = 0; i < o.nprocPerNode; i++) {
        const child = spawn(process.execPath, argv, { env: workerEnv(o, i), stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
        children.push(child);
        exits.push(undefined);
        say(`rank ${rankOf(i)}: pid ${child.pid}`);
        child.on('exit', (code, signal) => {
          exits[i] = { code, signal };
          const bad = signal !== null || (code !== 0 && !(code === 130 && interrupts > 0));
          if (bad && !failure) {
            failure = { rank: rankOf(i), code: code && code !== 130 ? code : 1, why: signal ? `was killed by ${signal}` : `exited with code ${code}` };
            say(`rank ${rankOf(i)} (pid ${child.pid}) ${failure.why}; the other workers get ${GRACE_MS / 1000} s to stop on their own`);
            stopTimer = setTimeout(() => {
              say('stopping the remaining workers');
              forward('SIGTERM');
              setTimeout(() => forward('SIGKILL'), 10_000).unref();
            }, GRACE_MS);
          }
          settle();
        });
      }
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
    process.removeListener('SIGHUP', onSigterm);
  }
}

/**
 * In a worker started by the launcher: call `onGone` when the launcher disappears (its IPC channel closes), and let
 * the channel not keep this process alive.
 */
export function followLauncher(onGone: () => void): void {
  if (process.env.RADBERT_LAUNCHER !== '1' || !process.connected) return;
  process.once('disconnect', onGone);
  (process.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
}
