/**
 * The CLI with Hub ids, against the local Hub emulator: train on a Hub dataset and push the result
 * (--push-to-hub), then predict with --model org/name downloaded from the Hub.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HubEmulator } from './helpers/hub-emulator';
import { MINI, REPO, TOKENIZER } from './helpers/paths';

const CLI = path.join(REPO, 'dist', 'cli', 'index.js');

let hub: HubEmulator;
let tmp: string;

/** Run the CLI asynchronously (the emulator lives in this process, so never block its event loop). */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: tmp, env: { ...process.env, ...env }, timeout: 300_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  expect(fs.existsSync(CLI)).toBe(true); // built by npm install / npm run build:ts
  hub = await HubEmulator.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-cli-hub-'));
  hub.addRepo('dataset', 'test-org/captions', {
    'data/train-00000-of-00001.parquet': fs.readFileSync(path.join(MINI, 'data', 'train-00000-of-00001.parquet')),
    'data/test-00000-of-00001.parquet': fs.readFileSync(path.join(MINI, 'data', 'test-00000-of-00001.parquet')),
  });
});
afterAll(async () => {
  await hub?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('train --dataset org/name … --push-to-hub, then predict --model org/name', async () => {
  const env = { HF_ENDPOINT: hub.endpoint, HF_HOME: path.join(tmp, 'hf'), HF_HUB_CACHE: path.join(tmp, 'cache'), HF_TOKEN: hub.token };
  const trained = await cli(
    ['train', '--dataset', 'test-org/captions', '--init', 'tiny', '--tokenizer', TOKENIZER, '--max-steps', '2', '--max-length', '32',
      '--output-dir', 'out', '--push-to-hub', '--hub-model-id', 'tester/pushed', '--quiet'],
    env,
  );
  expect([trained.code, trained.stderr.slice(-2000)]).toEqual([0, expect.anything()]);
  expect(trained.stdout).toContain(`pushed ${path.join(tmp, 'out')} to ${hub.endpoint}/tester/pushed`);
  const head = hub.head('model', 'tester/pushed')!;
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'README.md', 'trainer_state.json']) expect([f, !!hub.fileAt('model', 'tester/pushed', head, f)]).toEqual([f, true]);
  expect(Buffer.compare(hub.fileAt('model', 'tester/pushed', head, 'model.safetensors')!, fs.readFileSync(path.join(tmp, 'out', 'model.safetensors')))).toBe(0);
  expect(trained.stdout + trained.stderr).not.toContain(hub.token);

  const predicted = await cli(['predict', 'CT of Chest with pneumothorax', '--model', 'tester/pushed', '--json', '--threshold', '0'], { ...env, HF_HUB_CACHE: path.join(tmp, 'cache2') });
  expect([predicted.code, predicted.stderr.slice(-2000)]).toEqual([0, expect.anything()]);
  const json = JSON.parse(predicted.stdout);
  expect(json[0].text).toBe('CT of Chest with pneumothorax');
  expect(json[0].labels.length).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(tmp, 'cache2', 'models--tester--pushed'))).toBe(true);
});

test('push without a token says how to set one (exit 1)', async () => {
  expect(fs.existsSync(path.join(tmp, 'out', 'model.safetensors'))).toBe(true); // trained by the test above
  const r = await cli(['push', '--model', 'out', '--repo-id', 'tester/x'], { HF_ENDPOINT: hub.endpoint, HF_HOME: path.join(tmp, 'nohome'), HF_TOKEN: '' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/HF_TOKEN/);
});
