/**
 * transformers' learning-rate schedules (lr_scheduler_type, lr_scheduler_kwargs) against get_scheduler itself in the
 * reference venv: the lr of every step, 0 to the last, within 1e-7 of the base lr (observed: equal but for cos()'s
 * last bits).
 */
import { checkSchedule, LR_SCHEDULER_TYPES, lrSchedule, type LrSchedulerType } from '../lib/train/lr-schedules';
import { runPythonJson } from './helpers/python';

const BASE = 5e-5;
/** [type, total steps, warmup steps, kwargs] */
const CASES: Array<[LrSchedulerType, number, number, Record<string, number>]> = [];
for (const type of LR_SCHEDULER_TYPES) for (const [n, w] of [[10, 3], [7, 0], [205, 21]]) CASES.push([type, n, w, {}]);
CASES.push(
  ['cosine', 50, 5, { num_cycles: 1.5 }],
  ['cosine_with_restarts', 60, 6, { num_cycles: 3 }],
  ['polynomial', 40, 4, { lr_end: 1e-6, power: 2 }],
  ['polynomial', 9, 8, { power: 0.5 }],
);

describe('learning-rate schedules', () => {
  test('every step of every schedule within 1e-7 of transformers.get_scheduler', () => {
    const hf = runPythonJson<number[][]>(
      `import json, sys, torch
from transformers import get_scheduler
out = []
for name, n, w, kw in json.load(sys.stdin):
    p = torch.nn.Parameter(torch.zeros(1)); opt = torch.optim.SGD([p], lr=${BASE})
    s = get_scheduler(name, opt, num_warmup_steps=w, num_training_steps=n, scheduler_specific_kwargs=kw)
    lrs = []
    for k in range(n):
        lrs.append(opt.param_groups[0]['lr']); opt.step()
        if k + 1 < n: s.step()  # Trainer steps it after every optimizer step; the last one is never used
    out.append(lrs)
print(json.dumps(out))`,
      CASES,
    );
    let worst = 0;
    CASES.forEach(([type, n, w, kw], c) => {
      const s = lrSchedule(type, BASE, n, w, kw);
      expect(hf[c]).toHaveLength(n);
      for (let k = 0; k < n; k++) {
        const d = Math.abs(s.lr(k) - hf[c][k]);
        worst = Math.max(worst, d / BASE);
        if (d > 1e-7 * BASE) throw new Error(`${type} (n ${n}, warmup ${w}, ${JSON.stringify(kw)}) step ${k}: ${s.lr(k)} vs get_scheduler ${hf[c][k]}`);
      }
    });
    // the schedules differ from each other: a wrong dispatch could not pass
    // (after the warm-up constant and constant_with_warmup agree; cosine_with_restarts' first cycle is cosine's)
    const at7 = LR_SCHEDULER_TYPES.map((t) => lrSchedule(t, BASE, 10, 3, t === 'cosine_with_restarts' ? { num_cycles: 2 } : undefined).lr(7));
    expect(new Set(at7).size).toBe(LR_SCHEDULER_TYPES.length - 1);
    console.log(`${CASES.length} schedules, worst |lr - get_scheduler| / base lr ${worst.toExponential(2)}`);
  });

  test('bad kwargs are usage errors, as transformers raises', () => {
    expect(() => checkSchedule('cosine', 5e-5, '{"num_cycle": 2}')).toThrow('lr scheduler kwargs: cosine takes num_cycles, got num_cycle');
    expect(() => checkSchedule('linear', 5e-5, { power: 2 })).toThrow('linear takes no kwargs, got power');
    expect(() => checkSchedule('cosine', 5e-5, '{num_cycles: 2}')).toThrow('must be a JSON object');
    expect(() => checkSchedule('cosine_with_restarts', 5e-5, { num_cycles: 1.5 })).toThrow('must be an integer');
    expect(() => checkSchedule('polynomial', 1e-7, {})).toThrow('lr_end (1e-7) must be smaller than the learning rate (1e-7)');
    // get_scheduler's polynomial lambda divides by total - warmup steps (a ZeroDivisionError in Trainer's last scheduler step)
    expect(() => lrSchedule('polynomial', 5e-5, 9, 9)).toThrow('polynomial schedule: the warm-up (9 steps) must be shorter than the run (9 steps)');
    expect(() => checkSchedule('step' as LrSchedulerType, 5e-5)).toThrow('lr scheduler type must be linear, cosine,');
  });
});
