/**
 * Data-parallel training on c10d's Gloo backend, 2 processes on this machine, tiny model, clipping active: a distributed
 * run is the same run. 2 ranks × batch 4 (the built-in launcher; then torchrun --no-python from the reference venv, an
 * external launcher) make the updates of 1 process × batch 8 (weights within 1e-5 relative, same losses and grad
 * norms to rounding, the same evaluation metrics and kept checkpoint), for `train` and `mlm`; a SIGKILLed rank makes
 * the other exit non-zero within 60 s naming it; Ctrl-C to the launcher saves a checkpoint that `--resume` continues
 * bit-exactly (and one process at the same global batch to 1e-5); a busy port and an unreachable master are named.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { readTexts } from '../lib/data/mlm-corpus';
import { freePort } from '../lib/dist/launcher';
import { native } from '../lib/native';
import { train } from '../lib/train/loop';
import { trainMlm } from '../lib/train/mlm';
import type { RunResult } from '../lib/train/options';
import type { TrainerState } from '../lib/train/state';
import { describeNative, maxTensorDiff } from './helpers/fixtures';
import { MINI, REPO, TOKENIZER } from './helpers/paths';
import { pythonRef } from './helpers/python';
import { expectSameEvals, expectSameSteps } from './helpers/runs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-dist-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const CLI = path.join(REPO, 'bin', 'radbert-native.js');
const maxGradNorm = 0.05;
const RECIPE = { maxLength: 48, maxSteps: 6, loggingSteps: 1, learningRate: 1e-3, maxGradNorm, saveTotalLimit: 0, seed: 42 };
const FLAGS = ['--max-length', '48', '--max-steps', '6', '--logging-steps', '1', '--lr', '1e-3', '--max-grad-norm', String(maxGradNorm), '--save-total-limit', '0', '--seed', '42'];
const TRAIN = ['train', '--dataset', MINI, '--tokenizer', TOKENIZER, '--init', 'tiny', ...FLAGS];

/** A process of the CLI (or another command), its output, exit code and wall time; `onErr` sees stderr as it comes. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; onErr?: (text: string, pid: number) => void } = {}) {
  const t0 = Date.now();
  const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    opts.onErr?.(stderr, child.pid!);
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (Date.now() - t0) / 1000 })),
  );
  return { child, done };
}

/** trainer_state.json's log history of a finished run folder. */
function history(dir: string) {
  return (JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as TrainerState).log_history;
}

/** A finished run folder against a reference run: same updates (1e-5), same evaluations, same kept checkpoint. */
function expectSameRun(dir: string, ref: RunResult): void {
  expectSameSteps(history(dir), ref.logHistory, maxGradNorm, 1e-5);
  expectSameEvals(history(dir), ref.logHistory);
  const w = maxTensorDiff(path.join(dir, 'model.safetensors'), path.join(ref.outputDir, 'model.safetensors'));
  expect(w.rel).toBeLessThan(1e-5);
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
  expect(path.basename(state.best_model_checkpoint!)).toBe(path.basename(ref.bestCheckpoint!));
}

const hasGloo = () => native().version().distributed.backends.includes('gloo');

describeNative()('data parallel (Gloo, 2 processes)', () => {
  jest.setTimeout(300_000);
  let ref: RunResult;
  beforeAll(async () => {
    if (!hasGloo()) throw new Error(`this build has no Gloo backend: ${native().version().distributed.reason}`);
    ref = await train({ dataset: MINI, tokenizer: TOKENIZER, init: 'tiny', ...RECIPE, batchSize: 8, outputDir: path.join(tmp, 'ref'), quiet: true, threads: 2 });
  });

  test('train: 2 ranks x batch 4 (built-in launcher) = 1 process x batch 8', async () => {
    const dir = path.join(tmp, 'launcher');
    const r = await run(process.execPath, [CLI, ...TRAIN, '--batch-size', '4', '--output-dir', dir, '--nproc-per-node', '2']).done;
    expect(r.stderr).toMatch(/ranks 0-1 of 2/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/batch 4 per device × 2 processes = 8/);
    expectSameRun(dir, ref);
    expect(fs.existsSync(path.join(dir, 'test_results.json'))).toBe(true);
  });

  test('train: the same under torchrun --no-python (the reference venv, an external launcher), flat-buffer gradient sum', async () => {
    const dir = path.join(tmp, 'torchrun');
    const torchrun = path.join(path.dirname(pythonRef()), 'torchrun');
    const port = await freePort();
    const r = await run(torchrun, ['--no-python', '--nproc-per-node', '2', '--master-port', String(port), process.execPath, CLI, ...TRAIN, '--batch-size', '4', '--output-dir', dir], {
      env: { OMP_NUM_THREADS: '1', RADBERT_DDP_GRAD_SYNC: 'flat' }, // the other gradient sum: one flat buffer after backward
    }).done;
    expect([r.code, r.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
    expectSameRun(dir, ref);
  });

  test('mlm: 2 ranks x batch 4 = 1 process x batch 4 x 2 accumulation steps (= 1 x batch 8 to rounding), one epoch whose last global batch has 1 row (rank 1 takes part with none)', async () => {
    // 54 texts: 13 held out, 41 to train on = 5 global batches of 8 and one of 1 row (rank 0: 1 row, rank 1: none)
    const txt = path.join(tmp, 'texts.txt');
    fs.writeFileSync(txt, (await readTexts(MINI)).rows.slice(0, 54).map((r) => r.text).join('\n') + '\n');
    const mlmRecipe = { ...RECIPE, maxLength: 40, maxSteps: -1, epochs: 1, validationSplit: 0.25, evalBatchSize: 8 }; // same eval batches (their masks)
    const base = { dataset: txt, tokenizer: TOKENIZER, init: 'tiny' as const, ...mlmRecipe, quiet: true, threads: 2 };
    const one = await trainMlm({ ...base, batchSize: 8, outputDir: path.join(tmp, 'mlm-ref') });
    const acc = await trainMlm({ ...base, batchSize: 4, gradientAccumulationSteps: 2, outputDir: path.join(tmp, 'mlm-acc') });
    expect(one.globalStep).toBe(6);
    const dir = path.join(tmp, 'mlm');
    const flags = FLAGS.filter((f, i) => f !== '--max-steps' && FLAGS[i - 1] !== '--max-steps');
    const args = ['mlm', '--dataset', txt, '--tokenizer', TOKENIZER, '--init', 'tiny', ...flags, '--epochs', '1', '--max-length', '40', '--validation-split', '0.25', '--eval-batch-size', '8'];
    const r = await run(process.execPath, [CLI, ...args, '--batch-size', '4', '--output-dir', dir, '--nproc-per-node', '2']).done;
    expect([r.code, r.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
    expect(r.stderr).toMatch(/train 41, validation 13/);
    // against one batch of 8: the same losses, grad norms and evaluations; the weights against the run that cuts each
    // global batch the same way (4 + 4 rows: against 8 rows at once Adam amplifies the rounding of near-zero gradients
    // to 8.6e-5 on one element of head.dense.weight after these 6 steps, in accumulation and data parallel alike)
    expectSameSteps(history(dir), one.logHistory, maxGradNorm, 1e-5);
    expectSameEvals(history(dir), one.logHistory);
    expectSameRun(dir, acc);
  });

  test('a SIGKILLed rank: the other exits non-zero within 60 s naming it (rank and host), the launcher too', async () => {
    const dir = path.join(tmp, 'killed');
    let victim = 0;
    let killedAt = 0;
    const { done } = run(process.execPath, [CLI, ...TRAIN, '--max-steps', '400', '--batch-size', '4', '--output-dir', dir, '--nproc-per-node', '2'], {
      onErr: (text) => {
        const pid = /rank 1: pid (\d+)/.exec(text);
        if (!victim && pid && /logged loss/.test(text)) {
          victim = Number(pid[1]);
          process.kill(victim, 'SIGKILL');
          killedAt = Date.now();
        }
      },
    });
    const r = await done;
    expect(victim).toBeGreaterThan(0);
    expect(r.code).not.toBe(0);
    expect((Date.now() - killedAt) / 1000).toBeLessThan(60);
    expect(r.stderr).toMatch(/rank 1 \(pid \d+\) was killed by SIGKILL/); // the launcher
    expect(r.stderr).toContain(`rank 1 (host ${os.hostname()}, pid ${victim})`); // rank 0
  });

  test('a rank that throws (started by hand, as a PyTorchJob starts pods): the other exits non-zero with its error, naming it', async () => {
    const port = await freePort();
    const env = (rank: number) => ({ WORLD_SIZE: '2', RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: '1' });
    const dir = path.join(tmp, 'throws');
    const missing = path.join(tmp, 'no-such-dataset');
    const rank0 = run(process.execPath, [CLI, ...TRAIN, '--batch-size', '4', '--output-dir', dir], { env: env(0) });
    const rank1 = run(process.execPath, [CLI, ...TRAIN.map((a) => (a === MINI ? missing : a)), '--batch-size', '4', '--output-dir', dir], { env: env(1) });
    const [r0, r1] = await Promise.all([rank0.done, rank1.done]);
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain('no-such-dataset');
    expect(r0.code).not.toBe(0);
    expect(r0.seconds).toBeLessThan(60);
    expect(r0.stderr).toContain(`rank 1 (host ${os.hostname()}, pid ${rank1.child.pid}) failed: `);
    expect(r0.stderr).toContain('no-such-dataset');
  });

  test('Ctrl-C to the launcher: every rank finishes its step, rank 0 saves, exit 130; --resume continues bit-exactly', async () => {
    const full = path.join(tmp, 'launcher'); // the uninterrupted 2-rank run of the first test
    const dir = path.join(tmp, 'interrupted');
    const args = [CLI, ...TRAIN, '--batch-size', '4', '--output-dir', dir, '--nproc-per-node', '2'];
    let sent = false;
    const first = run(process.execPath, args, {
      onErr: (text, pid) => {
        if (!sent && /logged loss/.test(text)) {
          sent = true;
          process.kill(pid, 'SIGINT');
        }
      },
    });
    const r1 = await first.done;
    expect([r1.code, r1.stderr.slice(-2000)]).toEqual([130, expect.any(String)]);
    const saved = fs.readdirSync(dir).filter((n) => /^checkpoint-\d+$/.test(n));
    expect(saved.length).toBe(1);
    expect(Number(saved[0].split('-')[1])).toBeLessThan(6);
    // the same checkpoint resumed by one process at the same global batch (4 x 2 accumulation steps)
    const other = path.join(tmp, 'interrupted-1proc');
    fs.cpSync(dir, other, { recursive: true });
    const r2 = await run(process.execPath, [...args, '--resume']).done;
    expect([r2.code, r2.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(fs.readFileSync(path.join(full, 'model.safetensors')))).toBe(true);
    const oneArgs = [CLI, ...TRAIN, '--batch-size', '4', '--gradient-accumulation-steps', '2', '--output-dir', other, '--threads', '2', '--resume'];
    const r3 = await run(process.execPath, oneArgs).done;
    expect([r3.code, r3.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
    expect(r3.stderr).toMatch(new RegExp(`resuming at step ${saved[0].split('-')[1]}`));
    expect(maxTensorDiff(path.join(other, 'model.safetensors'), path.join(full, 'model.safetensors')).rel).toBeLessThan(1e-5);
  });

  test('rendezvous errors: a busy port, an unreachable master', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    const opts = { backend: 'gloo' as const, worldSize: 2, masterAddr: '127.0.0.1', prefix: 'test/', host: os.hostname() };
    try {
      await expect(native().initProcessGroup({ ...opts, rank: 0, masterPort: port, timeoutSeconds: 5 })).rejects.toThrow(
        new RegExp(`rank 0 of 2: could not host the store on port ${port}: the address is already in use .*--master-port`),
      );
    } finally {
      busy.close();
    }
    const nobody = await freePort();
    const t0 = Date.now();
    await expect(native().initProcessGroup({ ...opts, rank: 1, masterPort: nobody, timeoutSeconds: 3 })).rejects.toThrow(
      new RegExp(`rank 1 of 2: could not join the store at 127.0.0.1:${nobody} \\(MASTER_ADDR:MASTER_PORT, hosted by rank 0\\)`),
    );
    expect((Date.now() - t0) / 1000).toBeLessThan(30);
  });
});
