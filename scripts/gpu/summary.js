'use strict';
/**
 * The last step of scripts/gpu-check.sh: gathers what the steps left in WORK into one results JSON and prints one
 * summary table. usage: node scripts/gpu/summary.js WORK RESULT_JSON DEVICE PRESET WALL_SECONDS COMMAND
 */
const fs = require('fs');
const path = require('path');

const [work, result, device, preset, wall, command] = process.argv.slice(2);
const read = (f) => {
  const file = path.join(work, f);
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text.split('\n').pop());
  } catch {
    return text;
  }
};
const num = (f) => {
  const v = read(f);
  return typeof v === 'number' ? v : undefined;
};

const hf = read('hf_sdpa.json');
const fa2 = read('hf_fa2.json');
const ours = read('ours.json');
const parity = read('parity.json');
const profileText = fs.existsSync(path.join(work, 'ours_profile.txt')) ? fs.readFileSync(path.join(work, 'ours_profile.txt'), 'utf8') : '';
// RADBERT_PROFILE prints one block per call: keep the last training step's
const blocks = profileText.split(/(?=radbert-native profile)/).filter((b) => b.includes('trainStep'));
const epoch = {
  ours_s: num('ours_epoch.ms') !== undefined ? num('ours_epoch.ms') / 1000 : undefined,
  hf_sdpa_s: num('hf_epoch_sdpa.ms') !== undefined ? num('hf_epoch_sdpa.ms') / 1000 : undefined,
  note: 'wall time of the whole command (process start, model init, tokenization, 1 epoch, evaluation, checkpoint)',
  hf_sdpa: read('hf_epoch_sdpa.json'),
  hf_flash_attention_2: read('hf_epoch_fa2.json'),
};
const peak = { hf_sdpa_mb: num('hf_sdpa.peak'), hf_fa2_mb: num('hf_fa2.peak'), ours_mb: num('ours.peak'), source: 'nvidia-smi per-process used_memory, sampled every 0.2 s (0 on CPU)' };
const allChecks = parity && parity.configs ? Object.values(parity.configs).flatMap((c) => Object.values(c)) : [];
const record = {
  date: new Date().toISOString(),
  command,
  device,
  device_name: hf?.device_name,
  torch: hf?.torch,
  preset,
  wall_s: Number(wall),
  attention: ours?.attention ?? parity?.attention,
  parity: { all_pass: allChecks.length > 0 && allChecks.every((c) => c.pass), configs: parity?.configs ?? parity },
  deterministic: read('determinism.json') ?? read('determinism.err'),
  ddp_smoke: read('ddp_smoke.json'),
  bench: { hf_sdpa: hf, hf_flash_attention_2: fa2, ours },
  epoch,
  peak_gpu_memory: peak,
  profile: { ours_train_step: blocks.length ? blocks[blocks.length - 1] : profileText.slice(-6000), hf_train_step: hf?.profile },
};
if (hf) delete hf.profile;
fs.writeFileSync(result, JSON.stringify(record, null, 2) + '\n');

const f = (v, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '—');
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const rows = [
  ['train bs8 bf16, samples/s', hf?.train_samples_per_s, fa2?.train_samples_per_s, ours?.train_samples_per_s, true],
  ['infer bs64 bf16, samples/s', hf?.infer64_samples_per_s, fa2?.infer64_samples_per_s, ours?.infer64_samples_per_s, true],
  ['infer bs1 p50 latency, ms', hf?.infer1_latency_ms?.p50, fa2?.infer1_latency_ms?.p50, ours?.infer1_latency_ms?.p50, false],
  ['1 epoch wall, s', epoch.hf_sdpa_s, epoch.hf_flash_attention_2?.seconds, epoch.ours_s, false],
  ['peak GPU memory (bench), MiB', peak.hf_sdpa_mb, peak.hf_fa2_mb, peak.ours_mb, false],
];
console.log(`gpu-check on ${record.device_name ?? device} (${preset}), torch ${record.torch ?? '?'}, ${wall} s; attention: ${JSON.stringify(record.attention)}`);
console.log('| measure | HF sdpa | HF flash_attention_2 | radbert-native | ours vs HF sdpa |');
console.log('| --- | --- | --- | --- | --- |');
for (const [name, a, b, c, higherBetter] of rows)
  console.log(`| ${name} | ${f(a)} | ${f(b)} | ${f(c)} | ${higherBetter ? ratio(c, a) : ratio(a, c)} |`);
console.log(`parity: ${record.parity.all_pass ? 'all checks pass' : 'FAILURES'}; deterministic: true, two backward passes: ${JSON.stringify(record.deterministic)}`);
for (const [name, checks] of Object.entries(parity?.configs ?? {}))
  console.log(`  ${name}: ${Object.entries(checks).map(([k, v]) => `${k} ${typeof v.observed === 'number' ? v.observed.toExponential(1) : v.observed}${v.pass ? '' : ' FAIL'}`).join(', ')}`);
console.log(`written ${result}`);
