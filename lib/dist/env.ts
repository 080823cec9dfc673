/**
 * torchrun's environment contract: who this process is in a data-parallel run. torchrun, the built-in launcher
 * (`--nproc-per-node`) and Kubernetes' PyTorchJob set RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and
 * MASTER_PORT; Slurm's srun sets SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and SLURM_NTASKS_PER_NODE, read when
 * WORLD_SIZE is absent (MASTER_ADDR defaults to the node srun was launched from there). A run is distributed when the
 * world size is above 1.
 */
import * as os from 'node:os';
import { UsageError } from '../errors';

/** This process's place in a data-parallel run. */
export interface DistEnv {
  rank: number;
  localRank: number;
  worldSize: number;
  localWorldSize: number;
  /** Where the rendezvous store listens (rank 0, or torchrun's agent). */
  masterAddr: string;
  masterPort: number;
  /** TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store, every rank is a client of it. */
  agentStore: boolean;
  /** TORCHELASTIC_RESTART_COUNT (0 without torchrun): keys of an earlier attempt in the store are never read. */
  restartCount: number;
  /** GLOO_SOCKET_IFNAME split on commas: the network interfaces Gloo binds to (default: the host name's address). */
  glooInterfaces: string[];
  /** Which launcher's variables these are. */
  source: 'torchrun' | 'slurm';
  /** This host's name, for messages that name a rank. */
  host: string;
}

/** TorchElastic's default rendezvous port, and torchrun's. */
export const DEFAULT_MASTER_PORT = 29500;

/** An integer environment variable in [min, max], or `fallback` when unset; a UsageError naming it otherwise. */
function intVar(env: NodeJS.ProcessEnv, name: string, min: number, max: number, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined) throw new UsageError(`${name} is not set (a distributed run needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun sets them)`);
    return fallback;
  }
  const v = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || v < min || v > max) throw new UsageError(`${name}=${raw} must be an integer in [${min}, ${max}]`);
  return v;
}

/** Slurm's SLURM_TASKS_PER_NODE ("4(x2),3") first count, or undefined. */
function slurmTasksPerNode(env: NodeJS.ProcessEnv): number | undefined {
  const m = /^(\d+)/.exec(env.SLURM_NTASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * This process's place in a data-parallel run from the environment (torchrun's variables, else Slurm's), or undefined
 * when neither is there. A UsageError names a variable that is missing or out of range.
 */
export function distEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | undefined {
  const torchrun = env.WORLD_SIZE !== undefined && env.WORLD_SIZE !== '';
  const slurm = !torchrun && env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined;
  if (!torchrun && !slurm) return undefined;
  const worldSize = torchrun ? intVar(env, 'WORLD_SIZE', 1, 1 << 20) : intVar(env, 'SLURM_NTASKS', 1, 1 << 20);
  const rank = torchrun ? intVar(env, 'RANK', 0, worldSize - 1, worldSize === 1 ? 0 : undefined) : intVar(env, 'SLURM_PROCID', 0, worldSize - 1);
  const localWorldSize = torchrun ? intVar(env, 'LOCAL_WORLD_SIZE', 1, worldSize, 1) : (slurmTasksPerNode(env) ?? 1);
  const localRank = intVar(env, torchrun ? 'LOCAL_RANK' : 'SLURM_LOCALID', 0, Math.max(0, localWorldSize - 1), 0);
  const masterAddr = env.MASTER_ADDR || (slurm ? env.SLURM_LAUNCH_NODE_IPADDR : undefined);
  if (!masterAddr && worldSize > 1)
    throw new UsageError(`MASTER_ADDR is not set: the address of the host where rank 0 runs${slurm ? ' (e.g. export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1))' : ''}`);
  return {
    rank,
    localRank,
    worldSize,
    localWorldSize,
    masterAddr: masterAddr || '127.0.0.1',
    masterPort: intVar(env, 'MASTER_PORT', 1, 65535, slurm || worldSize === 1 ? DEFAULT_MASTER_PORT : undefined),
    agentStore: env.TORCHELASTIC_USE_AGENT_STORE === 'True',
    restartCount: intVar(env, 'TORCHELASTIC_RESTART_COUNT', 0, 1 << 30, 0),
    glooInterfaces: (env.GLOO_SOCKET_IFNAME ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    source: torchrun ? 'torchrun' : 'slurm',
    host: os.hostname(),
  };
}
