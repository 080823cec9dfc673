/** torchrun's environment contract (lib/dist/env.ts), Slurm's mapping, and what the built-in launcher gives workers. */
import { distEnv } from '../lib/dist/env';
import { workerArgs, workerEnv } from '../lib/dist/launcher';
import { isMainProcess } from '../lib/dist/run';

describe('distEnv', () => {
  test('nothing set: not distributed', () => {
    expect(distEnv({})).toBeUndefined();
    expect(isMainProcess({})).toBe(true);
  });

  test("torchrun's variables", () => {
    const e = distEnv({ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '29511', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2', GLOO_SOCKET_IFNAME: 'eth0, ib0' })!;
    expect(e).toMatchObject({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: 'node0', masterPort: 29511, agentStore: true, restartCount: 2, glooInterfaces: ['eth0', 'ib0'], source: 'torchrun' });
    expect(isMainProcess({ WORLD_SIZE: '4', RANK: '3', MASTER_ADDR: 'h', MASTER_PORT: '1' })).toBe(false);
  });

  test('Kubernetes PyTorchJob: no LOCAL_RANK (one process per pod)', () => {
    expect(distEnv({ WORLD_SIZE: '3', RANK: '2', MASTER_ADDR: 'radbert-master-0', MASTER_PORT: '23456' })).toMatchObject({ rank: 2, localRank: 0, localWorldSize: 1 });
  });

  test("Slurm's variables when WORLD_SIZE is absent", () => {
    const e = distEnv({ SLURM_PROCID: '9', SLURM_NTASKS: '16', SLURM_LOCALID: '1', SLURM_TASKS_PER_NODE: '8(x2)', SLURM_LAUNCH_NODE_IPADDR: '10.0.0.7' })!;
    expect(e).toMatchObject({ rank: 9, worldSize: 16, localRank: 1, localWorldSize: 8, masterAddr: '10.0.0.7', masterPort: 29500, source: 'slurm' });
    expect(distEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '2', MASTER_ADDR: 'n1', MASTER_PORT: '3000', WORLD_SIZE: '' })?.masterAddr).toBe('n1');
  });

  test('a missing or bad variable is a usage error naming it', () => {
    expect(() => distEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: '1' })).toThrow(/MASTER_ADDR is not set/);
    expect(() => distEnv({ WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' })).toThrow(/RANK is not set/);
    expect(() => distEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' })).toThrow(/RANK=2 must be an integer in \[0, 1\]/);
    expect(() => distEnv({ WORLD_SIZE: 'two' })).toThrow(/WORLD_SIZE=two/);
    expect(() => distEnv({ WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: 'h', MASTER_PORT: '70000' })).toThrow(/MASTER_PORT=70000/);
  });
});

describe('built-in launcher', () => {
  test("workers get the command without the launcher's flags", () => {
    expect(workerArgs(['--dataset', 'd', '--nproc-per-node', '2', '--nnodes=2', '--node-rank', '1', '--master-addr', 'h', '--master-port', '9', '--lr', '1e-3'])).toEqual(['--dataset', 'd', '--lr', '1e-3']);
  });

  test("workers get torchrun's environment contract", () => {
    const o = { nprocPerNode: 4, nnodes: 2, nodeRank: 1, masterAddr: 'node0', masterPort: 29500 };
    const e = workerEnv(o, 2, { OMP_NUM_THREADS: '3', PATH: '/bin' });
    expect(e).toMatchObject({ RANK: '6', LOCAL_RANK: '2', WORLD_SIZE: '8', LOCAL_WORLD_SIZE: '4', MASTER_ADDR: 'node0', MASTER_PORT: '29500', OMP_NUM_THREADS: '3', PATH: '/bin' });
    expect(distEnv(e)).toMatchObject({ rank: 6, localRank: 2, worldSize: 8, localWorldSize: 4 });
    expect(Number(workerEnv(o, 0, {}).OMP_NUM_THREADS)).toBeGreaterThanOrEqual(1);
  });
});
