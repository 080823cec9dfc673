/** The `mlm` and `fill-mask` commands end to end (dist/ CLI), and `train --linear-probe` in --help. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeNative } from './helpers/fixtures';
import { REPO, TOKENIZER } from './helpers/paths';
import { compileDist } from './helpers/build';

const CLI = path.join(REPO, 'dist', 'cli', 'index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-cli-mlm-'));

beforeAll(() => compileDist());
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', RADBERT_QUIET: '1' }, timeout: 300000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('mlm --help shares the recipe flags of train; train --help has the probe flags; usage errors exit 2', () => {
  const h = cli(['mlm', '--help']);
  expect(h.code).toBe(0);
  for (const f of ['--mlm-probability', '--validation-split', '--lr', '--warmup-ratio', '--weight-decay', '--resume', '--text-column', '--bf16']) expect(h.stdout).toContain(f);
  expect(h.stdout).not.toContain('--label-column');
  const t = cli(['train', '--help']);
  for (const f of ['--linear-probe', '--probe-c', '--probe-embeddings', '--classifier-pooling']) expect(t.stdout).toContain(f);
  expect(cli(['mlm', '--init', 'tiny']).code).toBe(2);
  expect(cli(['mlm', '--dataset', 'x.txt', '--mlm-probability', '0']).code).toBe(2);
  expect(cli(['fill-mask']).code).toBe(2);
});

describeNative()('mlm on a .txt, then fill-mask', () => {
  test('trains, saves a masked LM, fill-mask prints the pipeline JSON; a text without [MASK] is an error', () => {
    const lines = ['CT of the chest shows a nodule.', 'MRI of the brain with contrast.', 'Axial CT of the abdomen.', 'Chest X-ray with effusion.', 'Ultrasound of the liver.', 'CT of the head without contrast.', 'MRI of the knee.', 'PET CT of the lung.'];
    const txt = path.join(tmp, 'c.txt');
    fs.writeFileSync(txt, lines.join('\n') + '\n');
    const out = path.join(tmp, 'mlm');
    const r = cli(['mlm', '--dataset', txt, '--init', 'tiny', '--tokenizer', TOKENIZER, '--max-steps', '2', '--batch-size', '4', '--validation-split', '0.25', '--max-length', '32', '--threads', '2', '--output-dir', out]);
    expect(r.stderr).toContain('train 6, validation 2');
    expect(r.stdout).toContain('Perplexity');
    expect(r.code).toBe(0);
    // from --init: the series recipe's lr and epochs where no flag is given; a given flag wins (--batch-size 4)
    const args = JSON.parse(fs.readFileSync(path.join(out, 'training_args.json'), 'utf8'));
    expect([args.learning_rate, args.num_train_epochs, args.per_device_train_batch_size]).toEqual([1e-3, 10, 4]);
    const f = cli(['fill-mask', 'CT of the [MASK] shows a nodule.', '--model', out, '--json', '--top-k', '3']);
    expect(f.code).toBe(0);
    const parsed = JSON.parse(f.stdout) as Array<{ score: number; token: number; token_str: string; sequence: string }>;
    expect(parsed).toHaveLength(3);
    expect(Object.keys(parsed[0]).sort()).toEqual(['score', 'sequence', 'token', 'token_str']);
    const bad = cli(['fill-mask', 'no mask here', '--model', out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no mask token/);
  });
});
