/**
 * This process's part in a data-parallel run: the c10d process group (native/distributed.*) joined from the torchrun
 * environment, its collectives with failures explained (which rank failed, on which host, and how), and the watch that
 * ends a rank whose peers went silent instead of letting it wait out the collective timeout.
 */
import type { GroupHealth, NativeModel, NativeProcessGroup } from '../native';
import { native } from '../native';
import type { DistEnv } from './env';

/** How long a peer's heartbeat may stop before a waiting rank gives up on it (the collective timeout is much longer). */
export const SILENT_PEER_SECONDS = 30;

/** Options of joining a run. */
export interface JoinOptions {
  backend: 'gloo' | 'nccl';
  /** Rendezvous and collective timeout (--ddp-timeout, seconds). */
  timeoutSeconds: number;
  /** Gradient sum: one persistent flattened buffer after backward, or DDP's Reducer during backward. */
  gradSync: 'flat' | 'reducer';
}

/** A failure of the run caused by another rank, naming it. */
export class RankFailure extends Error {
  /** The rank that failed (or -1 when it could not be told). */
  readonly failedRank: number;
  constructor(message: string, failedRank: number) {
    super(message);
    this.name = 'RankFailure';
    this.failedRank = failedRank;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** What libtorch's c10d, Gloo and NCCL say when a peer or the store goes away or a collective times out. */
const COMMUNICATION = /gloo|c10d|nccl|connection|socket|peer|timed out|timeout|store/i;

/** This process's rank in a running data-parallel job: collectives, roles (rank 0 writes), failure messages. */
export class Dist {
  readonly rank: number;
  readonly world: number;
  readonly backend: string;
  private watch?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    readonly env: DistEnv,
    private readonly group: NativeProcessGroup,
    private readonly options: JoinOptions,
  ) {
    const info = group.info();
    this.rank = info.rank;
    this.world = info.size;
    this.backend = info.backend;
  }

  /** Join the run the environment describes: the rendezvous at MASTER_ADDR:MASTER_PORT and the process group. */
  static async join(env: DistEnv, options: JoinOptions): Promise<Dist> {
    const group = await native().initProcessGroup({
      backend: options.backend,
      rank: env.rank,
      worldSize: env.worldSize,
      localRank: env.localRank,
      masterAddr: env.masterAddr,
      masterPort: env.masterPort,
      agentStore: env.agentStore,
      prefix: `radbert/${env.restartCount}/`,
      timeoutSeconds: options.timeoutSeconds,
      host: env.host,
      glooInterfaces: env.glooInterfaces,
    });
    const d = new Dist(env, group, options);
    d.startWatch();
    return d;
  }

  /** Rank 0 logs, saves, evaluates into files and pushes; the others wait for it at barriers. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Give the model rank 0's weights and have its updates sum the gradients over the ranks. */
  async joinModel(model: NativeModel): Promise<void> {
    await this.run(() => this.group.broadcastModel(model));
    await this.run(() => this.group.attach(model, this.options.gradSync));
  }

  /** Wait until every rank is here. */
  barrier(): Promise<void> {
    return this.run(() => this.group.barrier());
  }

  /** Every rank's values, in rank order. */
  allGather<T extends Float32Array | Float64Array>(values: T): Promise<T[]> {
    return this.run(() => this.group.allGather(values));
  }

  /** Leave this rank's error where the other ranks' messages find it. */
  reportFailure(err: unknown): void {
    if (err instanceof RankFailure) return; // not ours: another rank failed first
    try {
      this.group.reportFailure((err as Error)?.message ?? String(err));
    } catch {
      // the group is gone already
    }
  }

  /**
   * After a failed collective: an error naming the rank that failed first (waits a few seconds for the evidence). Any
   * other error (this rank's own: bad input, a full disk) is returned as it is.
   */
  async explain(err: unknown): Promise<Error> {
    if (err instanceof RankFailure || this.closed || !COMMUNICATION.test((err as Error)?.message ?? '')) return err as Error;
    for (let i = 0; i < 8; i++) {
      const why = this.diagnosis(this.group.health(3));
      if (why) return new RankFailure(`${why.message}\n  (rank ${this.rank}: ${(err as Error)?.message ?? err})`, why.rank);
      await sleep(500);
    }
    return err as Error;
  }

  /** The end of the run on every rank: stop watching, a last barrier (rank 0 hosts the store), release the group. */
  async close(): Promise<void> {
    this.stopWatch();
    if (this.closed) return;
    try {
      await this.barrier();
    } finally {
      this.closed = true;
      await this.group.shutdown();
    }
  }

  /** After a failure on this rank: stop watching and release what can be released without the others. */
  abandon(): void {
    this.stopWatch();
    this.closed = true;
  }

  /** Who failed, from the watchdog's view: a reported error first, then a silent peer, then a lost store; or undefined. */
  private diagnosis(h: GroupHealth): { message: string; rank: number } | undefined {
    const peers = this.group.info().peers;
    const who = (r: number) => `rank ${r} (host ${peers[r]?.host ?? '?'}, pid ${peers[r]?.pid ?? '?'})`;
    if (h.failed.length) return { message: h.failed.map((f) => `${who(f.rank)} failed: ${f.message}`).join('\n'), rank: h.failed[0].rank };
    if (h.silent.length)
      return {
        message: h.silent.map((s) => `${who(s.rank)} stopped: no heartbeat for ${s.seconds.toFixed(0)} s (it died, was killed, or its host is unreachable)`).join('\n'),
        rank: h.silent[0].rank,
      };
    if (!h.storeLost) return undefined;
    const store = `${this.env.masterAddr}:${this.env.masterPort}`;
    if (this.env.agentStore) return { message: `torchrun's store at ${store} does not answer (${h.storeError})`, rank: -1 };
    return { message: `${who(0)} is gone: the store it hosted at ${store} does not answer (${h.storeError})`, rank: 0 };
  }

  /**
   * Every 5 s: a peer silent for SILENT_PEER_SECONDS, or a lost store, ends this process with a message naming it (a
   * collective waiting for a host that vanished without closing its connections would wait out --ddp-timeout).
   */
  private startWatch(): void {
    this.watch = setInterval(() => {
      const h = this.group.health(SILENT_PEER_SECONDS);
      if (!h.silent.length && !h.storeLost) return;
      process.stderr.write(`radbert-native: rank ${this.rank} stops: ${this.diagnosis({ ...h, failed: [] })!.message}\n`);
      process.exit(1);
    }, 5000);
    this.watch.unref();
  }

  private stopWatch(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = undefined;
  }

  /** A collective, with its failure explained. */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw await this.explain(err);
    }
  }
}
