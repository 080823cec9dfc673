'use strict';
// One process of `npm run bench -- --ddp` (bench/ddp.js starts 1 or 2 with torchrun's environment): training steps of
// global batch `global_batch` split over the ranks as a data-parallel run splits them (rank r: rows [r·b, (r+1)·b) of
// each global batch, loss weighted by its share), timed on rank 0; with WORLD_SIZE > 1 the model joins a Gloo process
// group and every update sums the gradients over the ranks first. usage: node bench/worker_ddp.js '<json>' → JSON
const args = JSON.parse(process.argv[2]);
const fs = require('fs');
const { load, packBatch, native } = require('..');
const { distEnv } = require('../dist/dist/env');
const { Dist } = require('../dist/dist/group');

const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  native().setNumThreads(args.threads);
  const env = distEnv();
  const dist = env && env.worldSize > 1 ? await Dist.join(env, { backend: 'gloo', timeoutSeconds: 600, gradSync: args.grad_sync ?? 'flat' }) : undefined;
  const rank = dist?.rank ?? 0;
  const world = dist?.world ?? 1;
  const inputs = JSON.parse(fs.readFileSync(args.inputs, 'utf8'));
  const clf = await load(args.model, { maxLength: 256 });
  if (dist) await dist.joinModel(clf.model);
  const G = args.global_batch;
  const b = G / world;
  const stepOn = async (j) => {
    const rows = [j * G + rank * b, j * G + (rank + 1) * b];
    const batch = packBatch(clf.encode(inputs.train.slice(...rows)));
    const targets = Float32Array.from(inputs.targets.slice(...rows).flat());
    return clf.model.trainStep(batch.ids, batch.cuSeqlens, targets, { lr: 5e-5, maxGradNorm: 1.0, lossWeight: b / G });
  };
  const steps = [];
  const sync = [];
  for (let j = 0; j < args.warmup + args.steps; j++) {
    if (dist) await dist.barrier(); // every step starts together: rank 0's time is the step's
    const t = now();
    const r = await stepOn(j);
    steps.push(now() - t);
    sync.push(r.syncSeconds ?? 0);
  }
  // the all-reduce alone (flat mode): every rank at a barrier, then an update on an empty batch (no forward, no
  // backward): copy into the persistent buffer, one all-reduce of every gradient, copy back
  const allreduce = [];
  if (dist && (args.grad_sync ?? 'flat') === 'flat')
    for (let i = 0; i < 3; i++) {
      await dist.barrier();
      const r = await clf.model.trainStep(new Int32Array(0), new Int32Array(1), new Float32Array(0), { lr: 0, maxGradNorm: 1.0 });
      allreduce.push(r.syncSeconds);
    }
  const timed = steps.slice(args.warmup);
  const out = {
    world,
    threads: args.threads,
    grad_sync: dist ? (args.grad_sync ?? 'flat') : null,
    global_batch: G,
    parameters: clf.model.info().numParameters,
    step_s: median(timed),
    samples_per_s: G / median(timed),
    sync_s: dist ? median(sync.slice(args.warmup)) : 0,
    first_sync_s: dist ? sync[0] : 0,
    allreduce_s: allreduce.length ? median(allreduce) : null,
    steps_s: steps,
    sync_s_all: sync,
  };
  clf.close();
  if (dist) await dist.close();
  if (rank === 0) process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
