/**
 * Prometheus metrics of one server (prom-client, a registry per server so several servers in a process never mix):
 * requests by route and status, texts classified, queue depth, batch sizes and tokens, forward and request latency.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchQueue, BatchStats } from './queue';

/** Latency buckets in seconds: 1 ms to 30 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics of one server, with the hooks that feed them. */
export class ServeMetrics {
  /** prom-client's registry of the server's metrics (what `GET /metrics` writes). */
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly inputs: Counter;
  private readonly batchSize: Histogram;
  private readonly batchTokens: Histogram;
  private readonly forward: Histogram;
  private readonly forwardFailures: Counter;

  constructor(queue: BatchQueue) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'radbert_requests_total', help: 'HTTP requests answered, by route and status code', labelNames: ['route', 'status'], registers });
    this.duration = new Histogram({
      name: 'radbert_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, by route',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inputs = new Counter({ name: 'radbert_inputs_total', help: 'Texts classified', registers });
    new Gauge({
      name: 'radbert_queue_sequences',
      help: 'Texts waiting for a forward (not counting the running one)',
      registers,
      collect() {
        this.set(queue.waitingSequences);
      },
    });
    new Gauge({
      name: 'radbert_queue_requests',
      help: 'Calls with texts waiting for a forward',
      registers,
      collect() {
        this.set(queue.waitingCalls);
      },
    });
    new Gauge({
      name: 'radbert_forward_running',
      help: '1 while a forward runs',
      registers,
      collect() {
        this.set(queue.busy ? 1 : 0);
      },
    });
    this.batchSize = new Histogram({
      name: 'radbert_batch_size',
      help: 'Texts per forward',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.batchTokens = new Histogram({
      name: 'radbert_batch_tokens',
      help: 'Tokens per forward',
      buckets: [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768],
      registers,
    });
    this.forward = new Histogram({ name: 'radbert_forward_duration_seconds', help: 'Wall time of one native forward', buckets: LATENCY_BUCKETS, registers });
    this.forwardFailures = new Counter({ name: 'radbert_forward_failures_total', help: 'Forwards that failed', registers });
  }

  /** Record one forward (BatchQueue's onBatch). */
  observeBatch(stats: BatchStats): void {
    if (stats.failed) {
      this.forwardFailures.inc();
      return;
    }
    this.batchSize.observe(stats.sequences);
    this.batchTokens.observe(stats.tokens);
    this.forward.observe(stats.seconds);
  }

  /** Record one answered request. */
  observeRequest(route: string, status: number, seconds: number, inputs: number): void {
    this.requests.inc({ route, status: String(status) });
    this.duration.observe({ route }, seconds);
    if (status === 200 && inputs > 0) this.inputs.inc(inputs);
  }

  /** The exposition text (text/plain; version=0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content-Type of text(). */
  get contentType(): string {
    return this.registry.contentType;
  }
}
