/**
 * The `radbert-native` command (dist/cli/index.js, built by beforeAll): help and exit codes, bad rows, Hub ids,
 * Ctrl-C during training (exit 130, resumable checkpoint, resume), predict and eval on the result.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MINI, REPO, TOKENIZER } from './helpers/paths';
import { compileDist } from './helpers/build';

const CLI = path.join(REPO, 'dist', 'cli', 'index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-cli-test-'));
const emptyCache = path.join(tmp, 'hf-cache');

beforeAll(() => {
  compileDist();
  fs.mkdirSync(emptyCache, { recursive: true });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], cwd = tmp, cache = emptyCache, env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: cache, NODE_OPTIONS: '', ...env }, timeout: 300000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const small = ['--tokenizer', TOKENIZER, '--init', 'tiny', '--max-length', '32', '--threads', '2'];

describe('usage and exit codes', () => {
  test('--help of each command exits 0', () => {
    for (const args of [['--help'], ['train', '--help'], ['predict', '--help'], ['eval', '--help'], ['help']]) {
      const r = cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/usage/);
    }
    expect(cli(['train', '--help']).stdout).toMatch(/--resume/);
  });

  test('bad usage exits 2 with what to do', () => {
    let r = cli(['train', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--bogus/);
    expect(r.stderr).toMatch(/train --help/);
    r = cli(['train', '--lr']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--lr/);
    r = cli(['train', '--lr', 'fast']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--lr expects a number/);
    r = cli(['train', '--init', 'huge']);
    expect(r.code).toBe(2);
    expect(cli(['frobnicate']).code).toBe(2);
    expect(cli([]).code).toBe(2);
    r = cli(['predict']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give the text/);
    expect(cli(['eval']).code).toBe(2);
  });

  test('shell completion: a script, then commands and each command\'s flags from its option table', () => {
    let r = cli(['completion']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/radbert-native --get-yargs-completions/);
    r = cli(['--get-yargs-completions', 'tr']);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['train', 'predict', 'eval', 'push']));
    r = cli(['--get-yargs-completions', 'train', '--lo']);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['--logging-steps', '--resume', '--bf16']));
  });

  test('flags are checked against their ranges', () => {
    for (const [args, msg] of [
      [['train', '--batch-size', '0'], /--batch-size must be >= 1, got 0/],
      [['predict', 'x', '--threshold', '1.5'], /--threshold must be <= 1/],
      [['eval', '--split', 'dev', '--dataset', 'x'], /--split must be test, validation, train or all, got dev/],
      [['train', '--seed', '1.5'], /--seed must be an integer/],
    ] as const) {
      const r = cli([...args]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(msg)]);
    }
  });

  test('runtime failures exit 1', () => {
    // a Hub id that is not cached, with the Hub unreachable (a closed local port)
    let r = cli(['train', '--dataset', 'someorg/some-dataset', ...small], tmp, emptyCache, { HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the Hugging Face Hub at http:\/\/127\.0\.0\.1:9/);
    r = cli(['train', '--dataset', 'someorg/some-dataset', ...small], tmp, emptyCache, { HF_HUB_OFFLINE: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/someorg\/some-dataset/);
    r = cli(['predict', 'CT of the chest', '--model', path.join(tmp, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no model here/);
  });
});

describe('bad rows', () => {
  const file = path.join(tmp, 'bad.jsonl');
  beforeAll(() => {
    const rows = [
      { caption: 'CT of the chest showing pneumothorax', cui: ['C0040405', 'C0817096', 'C0032326'] },
      { caption: '', cui: ['C0040405'] },
      { caption: 'MRI of the brain', cui: 'C0024485' },
      ...Array.from({ length: 20 }, (_, i) => ({ caption: `Ultrasound of the kidney number ${i}`, cui: ['C0041618', 'C0022646'] })),
    ];
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });

  test('are reported by split and row number, exit 1', () => {
    const r = cli(['train', '--dataset', file, ...small, '--output-dir', path.join(tmp, 'bad-out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/train row 1: empty caption/);
    expect(r.stderr).toMatch(/train row 2: cui is not a list/);
  });

  test('--skip-bad-rows drops and lists them', () => {
    const r = cli(['train', '--dataset', file, ...small, '--skip-bad-rows', '--max-steps', '1', '--output-dir', path.join(tmp, 'skip-out')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/skipped 2 bad row/);
    expect(r.stderr).toMatch(/train row 1/);
  });
});

describe('Ctrl-C, resume, predict, eval', () => {
  const out = path.join(tmp, 'run');
  const trainArgs = ['train', '--dataset', MINI, ...small, '--max-steps', '40', '--logging-steps', '1', '--lr', '5e-4', '--output-dir', out];
  let interruptedAt = 0;

  test('SIGINT after the first logged step saves a resumable checkpoint and exits 130', async () => {
    const child = spawn(process.execPath, [CLI, ...trainArgs], { cwd: tmp, env: { ...process.env, HF_HUB_CACHE: emptyCache, NODE_OPTIONS: '' } });
    let stderr = '';
    let sent = false;
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /logged loss/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    const m = /interrupted at step (\d+)/.exec(stderr);
    expect(m).not.toBeNull();
    interruptedAt = Number(m![1]);
    expect(interruptedAt).toBeGreaterThanOrEqual(1);
    expect(interruptedAt).toBeLessThan(40);
    expect(stderr).toMatch(/resume with: npx radbert-native train .*--resume/);
    const ck = path.join(out, `checkpoint-${interruptedAt}`);
    const st = JSON.parse(fs.readFileSync(path.join(ck, 'radbert_state.json'), 'utf8'));
    expect(st).toMatchObject({ global_step: interruptedAt, reason: 'interrupt', step_in_epoch: interruptedAt });
    expect(fs.existsSync(path.join(ck, 'optimizer.safetensors'))).toBe(true);
    // starting over in the same folder without --resume is refused (exit 2)
    expect(cli(trainArgs).code).toBe(2);
  });

  test('--resume finishes the run', () => {
    const r = cli([...trainArgs, '--resume']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| Training Loss \| Epoch/);
    expect(r.stdout).toMatch(/\| test /);
    const st = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8'));
    expect(st.global_step).toBe(40);
    expect(st.log_history.filter((e: Record<string, number>) => 'loss' in e).map((e: Record<string, number>) => e.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  test('predict prints labels with probabilities (and names)', () => {
    const names = path.join(tmp, 'names.json');
    fs.writeFileSync(names, JSON.stringify({ C0040405: 'X-Ray Computed Tomography' }));
    let r = cli(['predict', 'CT of Chest with pneumothorax', '--model', out, '--threshold', '0', '--top', '3', '--json', '--label-names', names]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j[0].text).toBe('CT of Chest with pneumothorax');
    expect(j[0].labels).toHaveLength(3);
    expect(j[0].labels[0].probability).toBeGreaterThan(j[0].labels[2].probability);
    r = cli(['predict', 'CT of Chest with pneumothorax', '--model', out, '--threshold', '0', '--label-names', names]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/X-Ray Computed Tomography \(C0040405\)/);
  });

  test('eval prints the metric row of a split', () => {
    const r = cli(['eval', '--model', out, '--dataset', MINI, '--split', 'validation', '--max-length', '32']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| Split +\| Loss +\| Precision Micro/);
    expect(r.stdout).toMatch(/\| validation \|/);
  });

  test('--bf16: predict under bf16 autocast stays within 2e-2 of float32, eval runs, train records bf16', () => {
    const text = 'CT of Chest with pneumothorax';
    const f32 = JSON.parse(cli(['predict', text, '--model', out, '--threshold', '0', '--json']).stdout);
    const r = cli(['predict', text, '--model', out, '--threshold', '0', '--json', '--bf16']);
    expect(r.code).toBe(0);
    const bf16 = JSON.parse(r.stdout);
    const p32 = Object.fromEntries(f32[0].labels.map((l: { label: string; probability: number }) => [l.label, l.probability]));
    let worst = 0;
    let differs = false;
    for (const l of bf16[0].labels as Array<{ label: string; probability: number }>) {
      worst = Math.max(worst, Math.abs(l.probability - p32[l.label]));
      differs ||= l.probability !== p32[l.label];
    }
    expect(bf16[0].labels).toHaveLength(f32[0].labels.length);
    expect(worst).toBeLessThanOrEqual(2e-2);
    expect(differs).toBe(true); // the flag reached the native forward
    expect(cli(['eval', '--model', out, '--dataset', MINI, '--split', 'validation', '--max-length', '32', '--bf16']).code).toBe(0);
    const dir = path.join(tmp, 'bf16-run');
    const t = cli(['train', '--dataset', MINI, ...small, '--max-steps', '2', '--output-dir', dir, '--bf16', '--quiet']);
    expect(t.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'training_args.json'), 'utf8')).bf16).toBe(true);
  });
});

test('org/name resolves through the local HF cache; a pretrained body gets a newly initialized classifier', async () => {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { native } = require('../lib/native') as typeof import('../lib/native');
  const { presetConfig, toNativeConfig } = require('../lib/model/config') as typeof import('../lib/model/config');
  const { saveModelFolder } = require('../lib/model/folder') as typeof import('../lib/model/folder');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const cache = path.join(tmp, 'fake-hf-cache');
  const snap = path.join(cache, 'models--answerdotai--ModernBERT-base', 'snapshots', 'aaaaaaaabbbbbbbbccccccccddddddddeeeeeeee');
  const cfg = presetConfig('tiny'); // a ModernBertForMaskedLM body
  const m = await native().createModel(toNativeConfig(cfg), { device: 'cpu', seed: 7, init: true });
  await saveModelFolder(snap, { config: cfg, model: m, tokenizerFrom: TOKENIZER });
  m.free();
  const data = path.join(cache, 'datasets--unsloth--Radiology_mini', 'snapshots', '1111111122222222333333334444444455555555', 'data');
  fs.mkdirSync(data, { recursive: true });
  for (const f of fs.readdirSync(path.join(MINI, 'data'))) fs.symlinkSync(path.join(MINI, 'data', f), path.join(data, f));
  // refs/main names the cached commit, as huggingface_hub writes it
  for (const [repo, commit] of [['models--answerdotai--ModernBERT-base', 'aaaaaaaabbbbbbbbccccccccddddddddeeeeeeee'], ['datasets--unsloth--Radiology_mini', '1111111122222222333333334444444455555555']]) {
    fs.mkdirSync(path.join(cache, repo, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(cache, repo, 'refs', 'main'), commit);
  }
  const out = path.join(tmp, 'pretrained-out');
  const r = cli(['train', '--model', 'answerdotai/ModernBERT-base', '--dataset', 'unsloth/Radiology_mini', '--max-steps', '2', '--max-length', '32', '--output-dir', out], tmp, cache, { HF_HUB_OFFLINE: '1' });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/newly initialized: \[classifier\.weight, classifier\.bias\]/);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).architectures).toEqual(['ModernBertForSequenceClassification']);
});
