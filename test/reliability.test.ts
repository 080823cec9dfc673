/**
 * Issue 12's smaller items: one numeric validation for the API and the CLI, temporaries of a killed save removed on
 * the next run (dead writers only), a resumed run keeps its preset, duplicate id2label names, sparse predict() input,
 * invalid UTF-8 in JSONL, a tokenizer.json with a string vocab.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCommand } from '../lib/cli/options';
import { TRAIN } from '../lib/cli/train';
import { train, type TrainOptions } from '../lib/train/loop';
import { resolveTrainOptions } from '../lib/train/options';
import { prepareRunFolder } from '../lib/train/setup';
import { pidAlive, removeStaleTemps } from '../lib/files';
import { labelsOf, presetConfig, classifierConfig } from '../lib/model/config';
import { createClassifier } from '../lib/model/classifier';
import { loadTokenizer } from '../lib/model/tokenize';
import { readRows } from '../lib/data/readers';
import { MINI, REPO, TOKENIZER } from './helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-rel-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The id of a process that has exited (its pid is free again). */
function deadPid(): number {
  const r = cp.spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const pid = Number(r.stdout.toString());
  expect(pidAlive(pid)).toBe(false);
  return pid;
}

describe('one validation for train() options and CLI flags', () => {
  const bad: Array<[Partial<TrainOptions>, string[], RegExp]> = [
    [{ threads: 0 }, ['--threads', '0'], /threads must be >= 1, got 0/],
    [{ threads: 1.5 }, ['--threads', '1.5'], /threads must be an integer, got 1.5/],
    [{ warmupRatio: 2 }, ['--warmup-ratio', '2'], /warmup[- ]ratio must be <= 1 and >= 0, got 2/],
    [{ adamBeta1: 2 }, ['--adam-beta1', '2'], /beta1 must be < 1 and >= 0, got 2/],
    [{ adamBeta2: 1 }, ['--adam-beta2', '1'], /beta2 must be < 1 and >= 0, got 1/],
    [{ learningRate: 0 }, ['--lr', '0'], /(learning rate|--lr) must be > 0, got 0/],
  ];
  test.each(bad)('%j / %j are refused by both', (opts, flags, re) => {
    expect(() => resolveTrainOptions({ dataset: 'x', ...opts })).toThrow(re);
    expect(() => parseCommand(TRAIN, flags)).toThrow(re);
  });
  test('good values pass both', () => {
    expect(() => resolveTrainOptions({ dataset: 'x', tokenizer: 'tok', threads: 2, warmupRatio: 1, adamBeta1: 0 })).not.toThrow();
    expect(parseCommand(TRAIN, ['--threads', '2', '--warmup-ratio', '1', '--adam-beta1', '0']).values).toMatchObject({ threads: 2, 'warmup-ratio': 1, 'adam-beta1': 0 });
  });
});

describe('temporaries of a killed save', () => {
  test('removed when their process is dead, kept when it is alive', () => {
    const dir = path.join(tmp, 'temps');
    const dead = deadPid();
    const live = cp.spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      fs.mkdirSync(path.join(dir, 'checkpoint-2'), { recursive: true });
      const deadDir = path.join(dir, `checkpoint-4.tmp-${dead}`);
      const liveDir = path.join(dir, `checkpoint-6.tmp-${live.pid}`);
      for (const d of [deadDir, liveDir]) {
        fs.mkdirSync(d);
        fs.writeFileSync(path.join(d, 'model.safetensors'), 'partial');
      }
      const deadFile = path.join(dir, `.model.safetensors.tmp-${dead}-1764100000000-abc123`);
      const deadInner = path.join(dir, 'checkpoint-2', `.trainer_state.json.tmp-${dead}-1764100000000-x9`);
      const liveFile = path.join(dir, `.model.safetensors.tmp-${live.pid}-1764100000000-def456`);
      const other = path.join(dir, 'notes.tmp-1'); // not ours: never touched
      for (const f of [deadFile, deadInner, liveFile, other]) fs.writeFileSync(f, 'x');
      expect(removeStaleTemps(dir).sort()).toEqual([deadDir, deadFile, deadInner].sort());
      for (const p of [liveDir, liveFile, other, path.join(dir, 'checkpoint-2')]) expect(fs.existsSync(p)).toBe(true);
      for (const p of [deadDir, deadFile, deadInner]) expect(fs.existsSync(p)).toBe(false);
      // --overwrite-output-dir and a fresh run go through the same sweep
      fs.mkdirSync(deadDir);
      const run = prepareRunFolder(resolveTrainOptions({ dataset: 'x', tokenizer: 'tok', outputDir: dir, overwriteOutputDir: true }));
      expect(run.removedTemps).toEqual([deadDir]);
      expect(fs.existsSync(liveDir)).toBe(true);
      expect(fs.existsSync(path.join(dir, 'checkpoint-2'))).toBe(false);
    } finally {
      live.kill();
    }
  });

  test('a real save killed mid-way: --resume removes its leftovers, says so, and keeps the preset in training_args.json', async () => {
    const out = path.join(tmp, 'killed');
    const opts: TrainOptions = { dataset: MINI, tokenizer: TOKENIZER, init: 'tiny', maxLength: 32, maxSteps: 4, loggingSteps: 2, outputDir: out, quiet: true, threads: 1 };
    // a child trains and is SIGKILLed as soon as its checkpoint-2 temp folder appears (inside the save)
    const script = `const { train } = require(${JSON.stringify(path.join(REPO, 'dist', 'train', 'loop.js'))});
const fs = require('fs');
const o = ${JSON.stringify({ ...opts, maxSteps: 2 })};
const timer = setInterval(() => { if (fs.existsSync(o.outputDir) && fs.readdirSync(o.outputDir).some((n) => n.includes('.tmp-'))) process.kill(process.pid, 'SIGKILL'); }, 0);
train({ ...o, onStep: () => {} }).then(() => { clearInterval(timer); });`;
    const r = cp.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120000 });
    const leftovers = fs.existsSync(out) ? fs.readdirSync(out).filter((n) => n.includes('.tmp-')) : [];
    // the poll runs between the save's awaits; when the save was too quick, plant what a kill leaves (dead writer)
    if (r.signal !== 'SIGKILL' || leftovers.length === 0) {
      fs.mkdirSync(path.join(out, `checkpoint-2.tmp-${deadPid()}`), { recursive: true });
    }
    // a resumable checkpoint to resume from: run to step 2 in this process, interrupted
    const controller = new AbortController();
    await train({ ...opts, overwriteOutputDir: true, signal: controller.signal, onStep: (s) => s === 2 && controller.abort() });
    const dead = deadPid();
    fs.mkdirSync(path.join(out, `checkpoint-3.tmp-${dead}`));
    fs.writeFileSync(path.join(out, `.model.safetensors.tmp-${dead}-1764100000000-abc123`), 'partial');
    const lines: string[] = [];
    const opt2 = { ...opts, quiet: false, print: () => undefined, info: (l: string) => void lines.push(l) };
    delete (opt2 as TrainOptions).init; // resuming: the preset comes from the checkpoint
    const res = await train({ ...opt2, resume: true });
    expect(res.globalStep).toBe(4);
    const said = lines.filter((l) => /removed 2 temporary file\(s\) of an interrupted save/.test(l));
    expect(said).toHaveLength(1);
    expect(fs.readdirSync(out).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const args = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint-4', 'training_args.json'), 'utf8'));
    expect(args.init).toBe('tiny');
  });
});

describe('smaller ones', () => {
  test('duplicate id2label names are refused, naming config.json and the key', () => {
    expect(() => labelsOf({ id2label: { 0: 'C1', 1: 'C2', 2: 'C1' } }, '/m/config.json')).toThrow(
      /\/m\/config\.json: key "id2label\.2": label "C1" is used by both ids 0 and 2/,
    );
  });

  test('predict(new Array(5)) is a clear TypeError', async () => {
    const clf = await createClassifier(classifierConfig({ ...presetConfig('tiny'), vocab_size: 50368 }, ['A', 'B']), { tokenizer: TOKENIZER, device: 'cpu' });
    try {
      await expect(clf.predict(new Array(5))).rejects.toThrow(new TypeError('predict: expected a string or an array of strings; item 0 is missing (a hole in a sparse array)'));
      await expect(clf.predict(['ok', 3 as unknown as string])).rejects.toThrow(/item 1 is number/);
      await expect(clf.logits(new Array(2))).rejects.toThrow(TypeError);
      expect(await clf.predict(['CT chest'])).toHaveLength(1);
    } finally {
      clf.close();
    }
  });

  test('invalid UTF-8 in JSONL names the row', async () => {
    const file = path.join(tmp, 'bad-utf8.jsonl');
    const good = Buffer.from('{"caption": "CT chest", "cui": ["C1"]}\n');
    const bad = Buffer.concat([Buffer.from('{"caption": "MR'), Buffer.from([0xc3, 0x28]), Buffer.from(' head", "cui": ["C2"]}\n')]);
    fs.writeFileSync(file, Buffer.concat([good, good, bad, good]));
    await expect(readRows(file)).rejects.toThrow(/line 3 is not valid UTF-8/);
    const skipped = await readRows(file, { skipBadRows: true });
    expect(skipped.skipped.map((b) => b.reason)).toEqual(['line 3 is not valid UTF-8']);
    const csv = path.join(tmp, 'bad-utf8.csv');
    fs.writeFileSync(csv, Buffer.concat([Buffer.from('caption,cui\nok,C1\n'), Buffer.from([0xff]), Buffer.from(',C2\n')]));
    await expect(readRows(csv)).rejects.toThrow(/bad-utf8\.csv: line 3 is not valid UTF-8/);
  });

  test('a tokenizer.json whose vocab is a string is refused (as Python tokenizers refuses it)', () => {
    const dir = path.join(tmp, 'tok-string-vocab');
    fs.mkdirSync(dir, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(TOKENIZER, 'tokenizer.json'), 'utf8'));
    json.model.vocab = 'abc';
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: key "model\.vocab": invalid type: string, expected a map/);
    json.model.vocab = { a: 0 };
    json.model.merges = 'x';
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    expect(() => loadTokenizer(dir)).toThrow(/key "model\.merges": invalid type: string, expected a sequence/);
  });
});

describe('memory (issue 12 item 8; bench/soak.js measures the long runs)', () => {
  test('a closed classifier and its tokenizer are garbage collected, and load/close cycles of the native model are flat', () => {
    const dir = path.join(tmp, 'gc-model');
    // a child process with --expose-gc: WeakRefs show what close() leaves reachable; RSS of 40 native cycles after 10
    const script = `
      const rn = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const { native } = require(${JSON.stringify(path.resolve(__dirname, '../dist/native'))});
      const { toNativeConfig } = require(${JSON.stringify(path.resolve(__dirname, '../dist/model/config'))});
      const settle = async () => { for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); } };
      (async () => {
        const cfg = rn.classifierConfig({ ...rn.presetConfig('tiny'), vocab_size: 50368 }, ['A', 'B', 'C']);
        const made = await rn.createClassifier(cfg, { tokenizer: ${JSON.stringify(TOKENIZER)}, device: 'cpu', seed: 1 });
        await made.save(${JSON.stringify(dir)}); made.close();
        let c = await rn.load(${JSON.stringify(dir)});
        for (let i = 0; i < 50; i++) await c.predict('CT of the chest, case ' + i);
        const refs = [new WeakRef(c), new WeakRef(c.tokenizer), new WeakRef(c.queue)];
        c.close(); c = null;
        await settle();
        const alive = refs.map((r) => r.deref() !== undefined);
        const ncfg = toNativeConfig(cfg);
        const rss = [];
        for (let i = 0; i < 50; i++) {
          const m = await native().createModel(ncfg, { device: 'cpu', seed: 0, init: false });
          await m.loadWeights([${JSON.stringify(path.join(dir, 'model.safetensors'))}]);
          await m.forward(new Int32Array([1, 5, 6, 2]), new Int32Array([0, 4]));
          m.free();
          if (i === 9 || i === 49) { await settle(); rss.push(process.memoryUsage().rss / 1048576); }
        }
        process.stdout.write(JSON.stringify({ alive, rss }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = cp.spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { alive: boolean[]; rss: number[] };
    expect(out.alive).toEqual([false, false, false]); // classifier, tokenizer, batching queue
    // 40 create/load/forward/free cycles of a 7M-parameter model (28 MB of weights each): each freed, RSS within 16 MB
    expect(out.rss[1] - out.rss[0]).toBeLessThan(16);
  });
});
