'use strict';
// What the Node sides of `npm run bench` (worker_ours.js, worker_tjs.js) share: timing, peak RSS, the inference
// protocol. The Python side (worker_hf.py) follows the same protocol.
const fs = require('fs');

/** Peak resident set size of this process in MB (VmHWM). */
function peakRssMb() {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** Seconds on a monotonic clock. */
const now = () => Number(process.hrtime.bigint()) / 1e9;

/** `warmup` untimed calls of fn, then the seconds of each of `reps` calls. */
async function timed(fn, reps, warmup) {
  for (let i = 0; i < warmup; i++) await fn();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    await fn();
    ts.push(now() - t);
  }
  return ts;
}

/**
 * mode "infer": the first `n` captions in batches of `batch_size` through `logits(texts)`, `warmup` untimed passes,
 * then `reps` timed passes (seconds); at batch size 1 also one call per caption, each timed (latency_s).
 */
async function inferBench(logits, texts, args) {
  const bs = args.batch_size;
  const n = args.n ?? texts.length;
  const run = async () => {
    for (let i = 0; i < n; i += bs) await logits(texts.slice(i, i + bs));
  };
  const result = { seconds: await timed(run, args.reps ?? 3, args.warmup ?? 1), samples: n };
  if (bs === 1) {
    result.latency_s = [];
    for (const t of texts.slice(0, n)) {
      const s = now();
      await logits([t]);
      result.latency_s.push(now() - s);
    }
  }
  return result;
}

/**
 * modes "train" and "mlm": `warmup` untimed steps on batches 0..warmup-1, then `reps` repetitions of the same `steps`
 * batches that follow (one repetition = `steps` steps). stepOn(j) runs the step of batch j (rows j*bs..).
 */
async function trainBench(stepOn, bs, available, args) {
  const warmup = args.warmup ?? 2;
  const steps = args.steps ?? 8;
  if ((warmup + steps) * bs > available) throw new Error('not enough training captions for warmup + steps');
  for (let j = 0; j < warmup; j++) await stepOn(j);
  const seconds = await timed(async () => {
    for (let j = warmup; j < warmup + steps; j++) await stepOn(j);
  }, args.reps ?? 2, 0);
  return { seconds, samples: steps * bs };
}

/** mode "logits": the logits of `texts` as one batch, as plain arrays (the parity check before timing). */
async function logitsRows(rowsOf, texts) {
  return { logits: (await rowsOf(texts)).map((r) => Array.from(r)) };
}

/** Runs a worker's main: one JSON line on stdout, or the error on stderr and exit code 1. */
function runWorker(main) {
  main()
    .then((result) => process.stdout.write(JSON.stringify(result) + '\n'))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}

module.exports = { peakRssMb, now, timed, inferBench, trainBench, logitsRows, runWorker };
