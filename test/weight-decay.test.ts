/**
 * Weight decay as HF Trainer applies it (transformers 5.17 Trainer.create_optimizer): two parameter groups, decay
 * only on the names get_decay_parameter_names returns (no biases, no LayerNorm weights). Fixtures from
 * test/python/make_mlm_fixtures.py, which builds Trainer(...).create_optimizer() itself and steps it once.
 *
 * Tolerances: the decay flags equal transformers' list exactly; parameters after one clipped step with
 * weight_decay > 0 ≤ 1e-6 (absolute) vs that optimizer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/native';
import { readConfigFile, toNativeConfig } from '../lib/model/config';
import { describeNative, ensureMlmFixtures, maxAbsDiff, readSafetensors } from './helpers/fixtures';

/** The parts of make_mlm_fixtures.py's manifest.json these tests read. */
interface Fixture {
  ids: number[];
  cu_seqlens: number[];
  labels?: number[];
  targets?: number[];
  max_grad_norm: number;
  wd: { decay_names: string[]; no_decay_names: string[]; optimizer: string; lr_wd: number; weight_decay: number };
}

describeNative()('weight decay as HF Trainer', () => {
  let dir: string;
  let fx: Record<'mlm' | 'cls', Fixture>;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-wd-'));

  beforeAll(() => {
    dir = ensureMlmFixtures();
    fx = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<'mlm' | 'cls', Fixture>;
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each(['mlm', 'cls'] as const)('%s: decay groups = get_decay_parameter_names; one step ≤ 1e-6 vs Trainer.create_optimizer()', async (which) => {
    const f = fx[which];
    const folder = path.join(dir, which, 'model');
    const model = await native().createModel(toNativeConfig(readConfigFile(path.join(folder, 'config.json'))), { device: 'cpu', seed: 0, init: false });
    await model.loadWeights([path.join(folder, 'model.safetensors')]);
    const params = model.info().parameters;
    expect(params.filter((p) => p.weightDecay).map((p) => p.name).sort()).toEqual([...f.wd.decay_names].sort());
    expect(params.filter((p) => !p.weightDecay).map((p) => p.name).sort()).toEqual([...f.wd.no_decay_names].sort());
    const targets = f.labels ? Int32Array.from(f.labels) : Float32Array.from(f.targets!);
    await model.trainStep(Int32Array.from(f.ids), Int32Array.from(f.cu_seqlens), targets, {
      lr: f.wd.lr_wd,
      weightDecay: f.wd.weight_decay,
      maxGradNorm: f.max_grad_norm,
    });
    const file = path.join(tmp, `${which}-after-wd.safetensors`);
    await model.saveWeights(file);
    model.free();
    const ours = readSafetensors(file);
    const hf = readSafetensors(path.join(dir, which, 'params_after_step_wd.safetensors'));
    const all = readSafetensors(path.join(dir, which, 'params_after_step_wd_all.safetensors'));
    let worst = 0;
    let worstKey = '';
    let groupsMatter = 0; // how far decaying every parameter would land from Trainer's step
    for (const [key, h] of hf) {
      const d = maxAbsDiff(ours.get(key)!.data, h.data);
      if (d >= worst) [worst, worstKey] = [d, key];
      groupsMatter = Math.max(groupsMatter, maxAbsDiff(all.get(key)!.data, h.data));
    }
    console.log(
      `${which}: ${f.wd.decay_names.length} decayed / ${f.wd.no_decay_names.length} not (${f.wd.optimizer}, lr ${f.wd.lr_wd}, weight_decay ${f.wd.weight_decay}); ` +
        `max |param − Trainer's optimizer| ${worst.toExponential(2)} (${worstKey}); decaying everything would differ by ${groupsMatter.toExponential(2)}`,
    );
    expect(groupsMatter).toBeGreaterThan(1e-4); // the test can tell the two groupings apart
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
});
