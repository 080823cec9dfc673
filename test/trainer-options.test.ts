/**
 * The Trainer options HF users reach for (lr_scheduler_type, eval_strategy/eval_steps, save_strategy/save_steps,
 * metric_for_best_model, greater_is_better, EarlyStoppingCallback), checked against Trainer itself: each short real
 * run's training_args.json is handed to HF Trainer (test/python/trainer_flow.py: a one-parameter model whose evaluate()
 * returns the metrics our run produced, in order), and Trainer must log its training losses' learning rates, evaluate,
 * save, pick the best and stop exactly where our run did. Then: the kept model is the best checkpoint's, an interrupted
 * run with these options resumes to the same result, and mlm takes the same options.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoCaptions } from '../lib/data/demo';
import { parseCommand } from '../lib/cli/options';
import { TRAIN, trainOptions } from '../lib/cli/train';
import { MLM } from '../lib/cli/mlm';
import { train, type TrainOptions, type TrainResult, type TrainerState } from '../lib/train/loop';
import { trainMlm } from '../lib/train/mlm';
import { resolveTrainOptions } from '../lib/train/options';
import { bestRule } from '../lib/train/callbacks';
import { CLASSIFICATION_METRICS, TUNED_METRICS } from '../lib/train/report';
import { describeNative } from './helpers/fixtures';
import { TOKENIZER } from './helpers/paths';
import { pythonRef } from './helpers/python';
import { execFileSync } from 'node:child_process';

type Log = Array<Record<string, number | null>>;

/** What trainer_flow.py reports of Trainer's run. */
interface HfFlow {
  log_history: Log;
  global_step: number;
  best_global_step: number | null;
  best_metric: number | null;
  best_model_checkpoint: string | null;
  checkpoints: number[];
  eval_steps: number;
  save_steps: number;
  evaluations_left: number;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-trainer-options-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const data = path.join(tmp, 'captions.jsonl');
fs.writeFileSync(data, demoCaptions(60, 3).map((r) => JSON.stringify(r)).join('\n') + '\n');
/** 60 rows: validation int(0.15 · 60) = 9, train 51: 7 steps per epoch at batch 8. */
const TRAIN_ROWS = 51;

const base = (name: string, extra: Partial<TrainOptions>): TrainOptions => ({
  dataset: data, tokenizer: TOKENIZER, init: 'tiny', maxLength: 32, batchSize: 8, learningRate: 2e-3, loggingSteps: 1,
  saveTotalLimit: 0, outputDir: path.join(tmp, name), quiet: true, threads: 2, ...extra,
});

/** The runs: what each exercises. */
const RUNS: Record<string, Partial<TrainOptions>> = {
  // every 3 steps, saves every 6; a loss "greater is better" stops after 2 evaluations without a rise, at step 9,
  // which is not a save step: the best (step 3) has no checkpoint, so Trainer loads nothing and keeps the last weights
  steps: {
    epochs: 4, lrSchedulerType: 'cosine', warmupSteps: 3, evalStrategy: 'steps', evalSteps: 3, saveSteps: 6,
    metricForBestModel: 'eval_loss', greaterIsBetter: true, earlyStoppingPatience: 2,
  },
  // each epoch; an improvement must beat the best by 0.02 to reset the patience, while the best still follows every
  // improvement (Trainer's _determine_best_metric has no threshold)
  epoch: {
    epochs: 6, lrSchedulerType: 'polynomial', lrSchedulerKwargs: '{"lr_end": 1e-5, "power": 2}', metricForBestModel: 'loss',
    earlyStoppingPatience: 2, earlyStoppingThreshold: 0.02,
  },
  // fractions of max_steps (eval every ceil(0.25 · 20) = 5, save every 10), the last step inside an epoch; with ASL and
  // thresholds tuned at each evaluation, the best checkpoint by micro-F1 at the tuned thresholds
  fractions: {
    maxSteps: 20, lrSchedulerType: 'constant_with_warmup', warmupRatio: 0.1, evalStrategy: 'steps', evalSteps: 0.25,
    saveSteps: 0.5, metricForBestModel: 'f1_tuned', loss: 'asl', tuneThresholds: 'global',
  },
};

/** Our evaluations' metrics, without the eval_ prefix and the timings: what trainer_flow.py's evaluate() returns. */
function metricsOf(log: Log): Array<Record<string, number>> {
  return log
    .filter((e) => typeof e.eval_loss === 'number')
    .map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => k.startsWith('eval_') && !/runtime|per_second/.test(k)).map(([k, v]) => [k.slice(5), v as number])));
}

const steps = (log: Log, key: string) => log.filter((e) => typeof e[key] === 'number').map((e) => e.step);

describeNative()('Trainer options vs HF Trainer on the same plan', () => {
  const ours: Record<string, TrainResult> = {};
  let hf: Record<string, HfFlow> = {};

  beforeAll(async () => {
    for (const [name, extra] of Object.entries(RUNS)) ours[name] = await train(base(name, extra));
    const plans = Object.keys(RUNS).map((name) => ({
      rows: TRAIN_ROWS,
      training_args: JSON.parse(fs.readFileSync(path.join(tmp, name, 'training_args.json'), 'utf8')),
      metrics: metricsOf(ours[name].logHistory),
      output_dir: path.join(tmp, `hf-${name}`),
    }));
    const out = execFileSync(pythonRef(), [path.join(__dirname, 'python', 'trainer_flow.py')], { input: JSON.stringify(plans), encoding: 'utf8', maxBuffer: 1 << 26 });
    const results = JSON.parse(out.trim().split('\n').pop()!) as HfFlow[];
    hf = Object.fromEntries(Object.keys(RUNS).map((name, i) => [name, results[i]]));
  });

  test.each(Object.keys(RUNS))('%s: learning rates, evaluations, checkpoints, best and stop as Trainer', (name) => {
    const o = ours[name];
    const h = hf[name];
    const st = JSON.parse(fs.readFileSync(path.join(tmp, name, 'trainer_state.json'), 'utf8')) as TrainerState;
    expect(h.evaluations_left).toBe(0);
    expect(o.globalStep).toBe(h.global_step);
    expect(steps(o.logHistory, 'eval_loss')).toEqual(steps(h.log_history, 'eval_loss'));
    expect(steps(o.logHistory, 'loss')).toEqual(steps(h.log_history, 'loss'));
    const lrs = (log: Log) => log.filter((e) => typeof e.loss === 'number').map((e) => e.learning_rate as number);
    const [ol, hl] = [lrs(o.logHistory), lrs(h.log_history)];
    ol.forEach((lr, i) => expect(Math.abs(lr - hl[i])).toBeLessThanOrEqual(1e-7 * 2e-3));
    const epochs = (log: Log) => log.filter((e) => typeof e.eval_loss === 'number').map((e) => e.epoch);
    expect(epochs(o.logHistory)).toEqual(epochs(h.log_history).map((e) => expect.closeTo(e!, 12)));
    const saved = fs.readdirSync(path.join(tmp, name)).filter((d) => /^checkpoint-\d+$/.test(d)).map((d) => Number(d.slice(11))).sort((a, b) => a - b);
    expect(saved).toEqual(h.checkpoints);
    expect(st.best_global_step).toBe(h.best_global_step);
    expect(st.best_metric).toBe(h.best_metric);
    expect(st.best_model_checkpoint && path.basename(st.best_model_checkpoint)).toBe(h.best_model_checkpoint);
    expect([st.eval_steps, st.save_steps]).toEqual([h.eval_steps, h.save_steps]);
    // the model kept is the best checkpoint's (or, as in Trainer, the last weights when the best step has no checkpoint)
    const kept = h.best_model_checkpoint ?? `checkpoint-${h.global_step}`;
    if (fs.existsSync(path.join(tmp, name, kept)))
      expect(Buffer.compare(fs.readFileSync(path.join(tmp, name, 'model.safetensors')), fs.readFileSync(path.join(tmp, name, kept, 'model.safetensors')))).toBe(0);
    console.log(
      `${name}: ${o.globalStep}/${o.totalSteps} steps${o.earlyStopped ? ' (stopped early)' : ''}, evaluations at ${steps(o.logHistory, 'eval_loss').join(' ')}, ` +
        `checkpoints ${saved.join(' ')}, best ${h.best_model_checkpoint ?? `step ${h.best_global_step} (not saved)`}`,
    );
  });

  test('early stopping ended a run before its planned steps, at the step Trainer stopped', () => {
    expect(ours.steps.earlyStopped).toBe(true);
    expect(ours.steps.globalStep).toBeLessThan(ours.steps.totalSteps);
    const st = JSON.parse(fs.readFileSync(path.join(tmp, 'steps', 'trainer_state.json'), 'utf8')) as TrainerState;
    expect(st.stateful_callbacks).toEqual({
      EarlyStoppingCallback: { args: { early_stopping_patience: 2, early_stopping_threshold: 0 }, attributes: { early_stopping_patience_counter: 2 } },
    });
    const args = JSON.parse(fs.readFileSync(path.join(tmp, 'steps', 'training_args.json'), 'utf8'));
    expect(args).toMatchObject({ lr_scheduler_type: 'cosine', eval_strategy: 'steps', eval_steps: 3, save_strategy: 'steps', save_steps: 6, metric_for_best_model: 'eval_loss', greater_is_better: true, early_stopping_patience: 2 });
  });

  test('a loss and a tuned-threshold metric go with the options: training_args.json, the curves, thresholds.json', () => {
    const dir = path.join(tmp, 'fractions');
    const args = JSON.parse(fs.readFileSync(path.join(dir, 'training_args.json'), 'utf8'));
    expect(args).toMatchObject({ loss: 'asl', asl_gamma_neg: 4, asl_gamma_pos: 0, asl_clip: 0.05, metric_for_best_model: 'f1_tuned', greater_is_better: true, eval_steps: 0.25, save_steps: 0.5, tune_thresholds: 'global' });
    expect(args.eval_loss).toMatch(/^asymmetric loss/);
    const evals = ours.fractions.logHistory.filter((e) => typeof e.eval_f1_tuned === 'number');
    expect(ours.fractions.bestMetric).toBe(Math.max(...evals.map((e) => e.eval_f1_tuned as number)));
    // the run's loss named on the curves' axis
    const svg = fs.readFileSync(path.join(dir, 'training_curves.svg'), 'utf8');
    expect(svg).toContain('Loss (asymmetric loss)');
    expect(fs.existsSync(path.join(dir, 'thresholds.json'))).toBe(true);
  });

  test('interrupted and resumed with these options: the same run, bit for bit', async () => {
    const controller = new AbortController();
    // step 7: after the evaluation at 6 (patience counter 1), before the one at 9 that stops the run
    const r1 = await train(base('steps-resumed', { ...RUNS.steps, signal: controller.signal, onStep: (s) => s === 7 && controller.abort() }));
    expect(r1.interrupted).toBe(true);
    const r2 = await train(base('steps-resumed', { ...RUNS.steps, resume: true }));
    expect(r2.globalStep).toBe(ours.steps.globalStep);
    const strip = (h: Log) => h.map((e) => Object.fromEntries(Object.entries(e).filter(([key]) => !/runtime|per_second/.test(key))));
    expect(strip(r2.logHistory)).toEqual(strip(ours.steps.logHistory));
    // the run stops at step 9, between saves (6, 12): no checkpoint after the resume point; the kept model is the
    // last weights (the best, step 3, was never saved), which two steps after the resume depend on the restored moments
    expect(fs.existsSync(path.join(tmp, 'steps-resumed', 'checkpoint-7'))).toBe(true);
    expect(Buffer.compare(fs.readFileSync(path.join(tmp, 'steps', 'model.safetensors')), fs.readFileSync(path.join(tmp, 'steps-resumed', 'model.safetensors')))).toBe(0);
  });
});

describeNative()('mlm takes the same options', () => {
  test('cosine schedule, evaluation every 2 steps, the best checkpoint by perplexity (lower is better)', async () => {
    const out = path.join(tmp, 'mlm');
    const r = await trainMlm({
      texts: demoCaptions(40, 5).map((c) => c.caption), tokenizer: TOKENIZER, init: 'tiny', maxLength: 32, maxSteps: 6,
      batchSize: 8, validationSplit: 0.2, outputDir: out, quiet: true, threads: 2, lrSchedulerType: 'cosine',
      evalStrategy: 'steps', evalSteps: 2, metricForBestModel: 'perplexity',
    });
    const evals = r.logHistory.filter((e) => typeof e.eval_perplexity === 'number');
    expect(evals.map((e) => e.step)).toEqual([2, 4, 6]);
    expect(r.bestMetric).toBe(Math.min(...evals.map((e) => e.eval_perplexity as number)));
    const args = JSON.parse(fs.readFileSync(path.join(out, 'training_args.json'), 'utf8'));
    expect(args).toMatchObject({ lr_scheduler_type: 'cosine', eval_strategy: 'steps', eval_steps: 2, save_steps: 2, metric_for_best_model: 'perplexity', greater_is_better: false });
    expect(args).not.toHaveProperty('loss');
  });
});

describe('the flags', () => {
  const resolve = (cmd: typeof TRAIN, args: string[]) => resolveTrainOptions({ ...trainOptions(parseCommand(cmd, args).values), tokenizer: 'x' });

  test('metric_for_best_model: the table\'s scores (f1_tuned with --tune-thresholds), never the tuned threshold itself', () => {
    const f1 = { metric: 'f1', greaterIsBetter: true };
    expect(bestRule({ metricForBestModel: 'eval_f1_tuned' }, f1, [...CLASSIFICATION_METRICS, ...TUNED_METRICS])).toEqual({ metric: 'f1_tuned', greaterIsBetter: true });
    expect(bestRule({ metricForBestModel: 'hamming_loss' }, f1, CLASSIFICATION_METRICS)).toEqual({ metric: 'hamming_loss', greaterIsBetter: false });
    expect(() => bestRule({ metricForBestModel: 'threshold_tuned' }, f1, [...CLASSIFICATION_METRICS, ...TUNED_METRICS])).toThrow(/metrics \(precision_micro, .*, f1_tuned\), with or without eval_; got threshold_tuned$/);
    expect(() => bestRule({ metricForBestModel: 'f1_tuned' }, f1, CLASSIFICATION_METRICS)).toThrow('(f1_tuned is a column of runs with --tune-thresholds)');
  });

  test('HF names, and HF\'s rules as usage errors', () => {
    const o = resolve(TRAIN, ['--lr-scheduler-type', 'cosine_with_restarts', '--lr-scheduler-kwargs', '{"num_cycles": 3}', '--eval-strategy', 'steps', '--eval-steps', '50', '--save-steps', '100', '--metric-for-best-model', 'eval_f1_macro', '--greater-is-better', 'false', '--early-stopping-patience', '3']);
    expect(o).toMatchObject({ lrSchedulerType: 'cosine_with_restarts', lrSchedulerKwargs: '{"num_cycles": 3}', evalStrategy: 'steps', evalSteps: 50, saveSteps: 100, metricForBestModel: 'eval_f1_macro', greaterIsBetter: false, earlyStoppingPatience: 3 });
    expect(() => resolve(TRAIN, ['--eval-strategy', 'steps', '--save-strategy', 'epoch'])).toThrow('requires the save and eval strategy to match, but found eval strategy steps, save strategy epoch');
    expect(() => resolve(TRAIN, ['--eval-strategy', 'steps', '--eval-steps', '10', '--save-steps', '15'])).toThrow('save steps must be a multiple of eval steps, but found 15, which is not a multiple of 10');
    expect(() => resolve(TRAIN, ['--eval-strategy', 'steps', '--eval-steps', '0.1', '--save-steps', '20'])).toThrow('mixing a fraction and absolute steps');
    expect(() => resolve(TRAIN, ['--eval-steps', '10'])).toThrow('eval steps applies to --eval-strategy steps');
    expect(() => resolve(TRAIN, ['--eval-strategy', 'steps', '--eval-steps', '2.5'])).toThrow('eval steps must be an integer if bigger than 1, got 2.5');
    expect(() => resolve(TRAIN, ['--early-stopping-threshold', '0.1'])).toThrow('early stopping threshold applies with --early-stopping-patience');
    expect(() => resolve(TRAIN, ['--lr-scheduler-type', 'cosine', '--lr-scheduler-kwargs', '{"power": 2}'])).toThrow('cosine takes num_cycles, got power');
    expect(() => parseCommand(TRAIN, ['--lr-scheduler-type', 'onecycle'])).toThrow('--lr-scheduler-type must be linear, cosine, cosine_with_restarts, polynomial, constant or constant_with_warmup, got onecycle');
    expect(() => parseCommand(MLM, ['--loss', 'asl'])).toThrow('unknown option --loss');
    expect(parseCommand(MLM, ['--early-stopping-patience', '2']).values['early-stopping-patience']).toBe(2);
  });
});
