/**
 * `train --linear-probe` (Part 1 of the series): freeze the whole ModernBertForSequenceClassification except its last
 * linear layer, cache what that layer sees once (the pooled body states through the frozen head: dense → activation →
 * norm), fit the layer as one-vs-rest logistic regressions with scikit-learn's LogisticRegression(C) objective
 * (train/logistic.ts), and write a normal classifier folder: body and head unchanged, classifier = the fitted weights,
 * so load() and transformers predict exactly what the probe does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { bceWithLogits, computeMetrics } from '../eval/metrics';
import { writeFileAtomic } from '../files';
import type { Classifier } from '../model/classifier';
import { readSafetensorsF32, writeSafetensors, type F32Tensor } from '../model/safetensors';
import { saveModelFolder } from '../model/folder';
import { packBatch } from '../model/tokenize';
import { native } from '../native';
import { buildClassifier, encodeSplit, readData } from './classify';
import { fitLogisticOvR } from './logistic';
import type { ResolvedTrainOptions, TrainResult } from './options';
import { CLASSIFICATION_METRICS, splitTable } from './report';
import type { Output } from './setup';

/**
 * The classifier layer's input for each sequence: the model's forward with its last linear layer replaced by the
 * identity (a copy of the model with num_labels = hidden), [n, hidden] row-major.
 */
export async function classifierInputs(clf: Classifier, seqs: number[][], batchSize: number): Promise<Float32Array> {
  const hidden = clf.nativeConfig.hiddenSize;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-probe-'));
  const aux = await native().createModel({ ...clf.nativeConfig, numLabels: hidden }, { device: clf.device, seed: 0, init: false });
  try {
    const file = path.join(dir, 'w.safetensors');
    await clf.model.saveWeights(file);
    const tensors: Record<string, F32Tensor> = {};
    for (const [k, t] of readSafetensorsF32(file)) if (!k.startsWith('classifier.')) tensors[k] = t;
    const eye = new Float32Array(hidden * hidden);
    for (let i = 0; i < hidden; i++) eye[i * hidden + i] = 1;
    tensors['classifier.weight'] = { shape: [hidden, hidden], data: eye };
    if (clf.model.info().parameters.some((p) => p.name === 'classifier.bias')) tensors['classifier.bias'] = { shape: [hidden], data: new Float32Array(hidden) };
    writeSafetensors(file, tensors);
    const rep = await aux.loadWeights([file]);
    if (rep.missing.length) throw new Error(`linear probe: feature model is missing ${rep.missing.join(', ')}`);
    const outm = new Float32Array(seqs.length * hidden);
    for (let s = 0; s < seqs.length; s += batchSize) {
      const chunk = seqs.slice(s, s + batchSize);
      const b = packBatch(chunk);
      outm.set(await aux.forward(b.ids, b.cuSeqlens, { bf16: clf.dtype === 'bfloat16' }), s * hidden);
    }
    return outm;
  } finally {
    aux.free();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Logits x·Wᵀ + b, [n, labels] row-major. */
export function linearLogits(x: Float32Array, n: number, d: number, weight: Float32Array, bias: Float32Array): Float32Array {
  const L = bias.length;
  const out = new Float32Array(n * L);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < L; l++) {
      let s = bias[l];
      for (let j = 0; j < d; j++) s += x[i * d + j] * weight[l * d + j];
      out[i * L + l] = s;
    }
  }
  return out;
}

/** Run a linear probe (see the file header); returns train()'s result shape (globalStep 0, no checkpoints). */
export async function linearProbe(o: ResolvedTrainOptions, out: Output, device: 'cpu' | 'cuda'): Promise<Omit<TrainResult, 'labels'> & { labels: string[] }> {
  if (o.resume) throw new UsageError('--linear-probe has no checkpoints to resume');
  const t0 = Date.now();
  const { split, labels, y } = await readData(o, out.info, undefined);
  const built = await buildClassifier(o, out.info, labels, undefined, device);
  const clf = built.clf;
  try {
    await built.after(clf);
    clf.dtype = o.bf16 === true ? 'bfloat16' : 'float32';
    const d = clf.nativeConfig.hiddenSize;
    const L = labels.length;
    out.info(`linear probe: ${built.description}; body and head frozen, ${clf.nativeConfig.classifierPooling} pooling; fitting ${L} one-vs-rest logistic regressions (C ${o.probeC ?? 1}) on ${d} features`);
    const names = ['train', 'validation', 'test'] as const;
    const feats: Record<string, Float32Array> = {};
    for (const s of names) feats[s] = await classifierInputs(clf, encodeSplit(clf, s, split[s]), o.evalBatchSize);
    const tEmb = (Date.now() - t0) / 1000;
    out.info(`embedded ${split.train.length + split.validation.length + split.test.length} texts in ${tEmb.toFixed(1)} s`);
    if (o.probeEmbeddings) {
      const t: Record<string, F32Tensor> = {};
      for (const s of names) {
        if (!split[s].length) continue;
        t[`${s}.x`] = { shape: [split[s].length, d], data: feats[s] };
        t[`${s}.y`] = { shape: [split[s].length, L], data: Float32Array.from(y[s].data) };
      }
      writeSafetensors(o.probeEmbeddings, t, { labels: JSON.stringify(labels) });
      out.info(`wrote the probe's features and labels to ${o.probeEmbeddings}`);
    }
    const tFit = Date.now();
    const fit = fitLogisticOvR(feats.train, split.train.length, d, y.train.data, L, { C: o.probeC ?? 1 });
    const fitSeconds = (Date.now() - tFit) / 1000;
    out.info(`fitted in ${fitSeconds.toFixed(1)} s${fit.unconverged ? `; ${fit.unconverged} label(s) did not converge` : ''}`);
    const result: Omit<TrainResult, 'labels'> & { labels: string[] } = { outputDir: path.resolve(o.outputDir), globalStep: 0, totalSteps: 0, interrupted: false, labels, logHistory: [] };
    const entries: Record<string, Record<string, number>> = {};
    for (const s of ['validation', 'test'] as const) {
      if (!split[s].length) continue;
      const logits = linearLogits(feats[s], split[s].length, d, fit.weight, fit.bias);
      const m = computeMetrics(logits, y[s].data, o.threshold, L);
      const loss = bceWithLogits(logits, y[s].data);
      entries[s] = { [`${s === 'validation' ? 'eval' : 'test'}_loss`]: loss, ...Object.fromEntries(CLASSIFICATION_METRICS.map((c) => [`${s === 'validation' ? 'eval' : 'test'}_${c.key}`, m[c.key]])) };
      for (const line of splitTable(s, loss, m as unknown as Record<string, number>, CLASSIFICATION_METRICS)) out.print(line);
      if (s === 'validation') result.bestMetric = m.f1;
      else result.test = { ...m, loss };
    }
    // the classifier folder: body + head unchanged, classifier = the probe
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-probe-'));
    try {
      const f = path.join(dir, 'classifier.safetensors');
      const t: Record<string, F32Tensor> = { 'classifier.weight': { shape: [L, d], data: fit.weight } };
      const hasBias = clf.model.info().parameters.some((p) => p.name === 'classifier.bias');
      if (hasBias) t['classifier.bias'] = { shape: [L], data: fit.bias };
      else if (fit.bias.some((b) => b !== 0)) throw new Error('linear probe: this classifier has no bias to hold the intercepts');
      writeSafetensors(f, t);
      await clf.model.loadWeights([f]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // the folder must predict what the probe does: the full model's logits vs the probe's on the validation split
    let folderDiff = 0;
    if (split.validation.length) {
      const full = await clf.logitsMatrix(encodeSplit(clf, 'validation', split.validation));
      const probe = linearLogits(feats.validation, split.validation.length, d, fit.weight, fit.bias);
      for (let i = 0; i < full.length; i++) folderDiff = Math.max(folderDiff, Math.abs(full[i] - probe[i]));
    }
    await saveModelFolder(o.outputDir, { config: clf.config, model: clf.model, tokenizerFrom: built.tokenizerFrom, labelNames: built.labelNames });
    const runtime = (Date.now() - t0) / 1000;
    const summary = {
      linear_probe: true, C: o.probeC ?? 1, pooling: clf.nativeConfig.classifierPooling, features: 'classifier input (pooled body state through the frozen head)',
      dims: d, labels: L, fit_seconds: fitSeconds, embed_seconds: tEmb, runtime, unconverged: fit.unconverged, folder_vs_probe_max_abs_logit_diff: folderDiff,
      max_iterations: Math.max(...fit.iterations), model: o.model ?? null, init: o.model ? null : (o.init ?? 'tiny'), seed: o.seed, ...entries.validation, ...entries.test,
    };
    writeFileAtomic(path.join(o.outputDir, 'probe_results.json'), JSON.stringify(summary, null, 2) + '\n');
    if (entries.test) writeFileAtomic(path.join(o.outputDir, 'test_results.json'), JSON.stringify(entries.test, null, 2) + '\n');
    out.info(`saved the probe classifier to ${o.outputDir} (${runtime.toFixed(1)} s)`);
    return result;
  } finally {
    clf.close();
  }
}
