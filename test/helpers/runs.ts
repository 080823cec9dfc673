/** Comparing two training runs' logs: the same steps with the same losses, grad norms and evaluations. */
import type { LogEntry } from '../../lib/train/options';

/** The training log entries' losses and grad norms. */
export function trainLogs(h: LogEntry[]): LogEntry[] {
  return h.filter((e) => typeof e.loss === 'number');
}

/** Same logged steps, losses and grad norms within `tol` (relative), clipping active on every step. */
export function expectSameSteps(a: LogEntry[], b: LogEntry[], maxGradNorm: number, tol: number): void {
  expect(trainLogs(a).map((e) => e.step)).toEqual(trainLogs(b).map((e) => e.step));
  trainLogs(a).forEach((e, i) => {
    const f = trainLogs(b)[i];
    expect(Math.abs(e.loss! - f.loss!) / Math.abs(f.loss!)).toBeLessThan(tol);
    expect(Math.abs(e.grad_norm! - f.grad_norm!) / f.grad_norm!).toBeLessThan(tol);
    expect(f.grad_norm!).toBeGreaterThan(maxGradNorm); // clipped
  });
}

/** The evaluation entries without their timings. */
export function evals(h: LogEntry[]): LogEntry[] {
  return h
    .filter((e) => Object.keys(e).some((k) => k.endsWith('_loss') && k !== 'train_loss'))
    .map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !/runtime|per_second/.test(k))));
}

/** The same evaluations: every metric equal, the losses (from logits that differ by rounding) within 1e-6 relative. */
export function expectSameEvals(a: LogEntry[], b: LogEntry[]): void {
  const [ea, eb] = [evals(a), evals(b)];
  expect(ea.length).toBeGreaterThan(0);
  expect(ea.map((e) => Object.keys(e).sort())).toEqual(eb.map((e) => Object.keys(e).sort()));
  ea.forEach((e, i) => {
    for (const [k, v] of Object.entries(e)) {
      if (k.endsWith('_loss') || k.endsWith('_perplexity')) expect(Math.abs(v! - eb[i][k]!) / Math.abs(eb[i][k]!)).toBeLessThan(1e-6);
      else expect([k, v]).toEqual([k, eb[i][k]]);
    }
  });
}
