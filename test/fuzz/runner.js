/**
 * Parent of the fuzz suite: runs each category's cases in a child process (run-case.js), many cases per child. A
 * child that dies (signal, abort, non-zero exit), hangs (no answer within the case timeout) or grows past the RSS
 * limit is killed; its unanswered case is retried alone to pin it, and the rest go on in a new child.
 * `node test/fuzz/runner.js [category...]` runs it standalone (after `npm run build:ts`) and prints the summary.
 */
'use strict';
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { casesOf, COUNTS } = require('./cases');

const CHILD = path.join(__dirname, 'run-case.js');
/**
 * Cases that get a child of their own: native calls with a bad cuSeqlens (a silent out-of-bounds write would
 * otherwise crash a later case, charged to the wrong one).
 */
const isolated = (c) => c.category === 'native' && ['forwardCu', 'embed', 'evalTargets', 'types'].includes(c.op);

/** RSS of a process in MB from /proc (0 when unknown). */
function rssMB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Run `ids` of a category in one child; resolves with per-case results and, if it died, how and in which case. */
function runChild(base, category, indices, opts) {
  return new Promise((resolve) => {
    const child = cp.spawn(process.execPath, [`--max-old-space-size=${opts.heapMB}`, CHILD, 'run', base, category, JSON.stringify(indices)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const results = [];
    let current = null;
    let since = Date.now();
    let killedFor = null;
    let peak = 0;
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^([SR]) (\S+)(?: (\S+) (\d+) ?(.*))?$/.exec(line);
        if (!m) continue;
        if (m[1] === 'S') {
          current = m[2];
          since = Date.now();
        } else {
          results.push({ id: m[2], outcome: m[3], rssMB: Number(m[4]), message: m[5] });
          current = null;
        }
      }
    });
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const watch = setInterval(() => {
      const rss = rssMB(child.pid);
      peak = Math.max(peak, rss);
      if (rss > opts.rssLimitMB) killedFor = `rss ${Math.round(rss)} MB > ${opts.rssLimitMB} MB`;
      else if (Date.now() - since > opts.caseTimeoutMs) killedFor = `no answer in ${opts.caseTimeoutMs / 1000} s (hang)`;
      if (killedFor) child.kill('SIGKILL');
    }, 100);
    child.on('exit', (code, signal) => {
      clearInterval(watch);
      const died = code !== 0 || signal !== null;
      resolve({ results, died, current, how: killedFor ?? (signal ? `signal ${signal}` : `exit code ${code}`), stderr: stderr.trim().split('\n').slice(-3).join(' | '), peakMB: Math.round(peak) });
    });
  });
}

/** Run every case of a category; a case that takes its child down is retried alone to confirm. */
async function runCategory(base, category, opts) {
  const cases = casesOf(category);
  const byId = new Map(cases.map((c) => [c.id, c]));
  let todo = cases.map((c) => c.index);
  const results = [];
  let children = 0;
  const alone = todo.filter((i) => isolated(cases[i]));
  todo = todo.filter((i) => !isolated(cases[i]));
  {
    // one child per case: a call that corrupts native memory is charged to itself, not to a later case
    for (const i of alone) {
      const r = await runChild(base, category, [i], opts);
      children++;
      if (r.results.length) results.push(...r.results);
      if (r.died) results.push({ id: cases[i].id, outcome: 'crash', message: `${r.how}${r.stderr ? `: ${r.stderr}` : ''}`, case: cases[i] });
    }
  }
  while (todo.length) {
    const r = await runChild(base, category, todo, opts);
    children++;
    results.push(...r.results);
    const done = new Set(r.results.map((x) => x.id));
    todo = todo.filter((i) => !done.has(cases[i].id));
    if (!r.died) continue;
    if (!r.current) {
      // died outside a case (start-up): report every remaining case as crashed rather than loop
      for (const i of todo) results.push({ id: cases[i].id, outcome: 'crash', message: `child died outside a case: ${r.how} ${r.stderr}` });
      break;
    }
    const culprit = byId.get(r.current);
    todo = todo.filter((i) => i !== culprit.index);
    const retry = await runChild(base, category, [culprit.index], opts);
    children++;
    const confirmed = retry.died;
    results.push({
      id: culprit.id,
      outcome: 'crash',
      message: `${r.how}${r.stderr ? `: ${r.stderr}` : ''}${confirmed ? '' : ' (did not crash when run alone: depends on the cases before it)'}`,
      case: culprit,
    });
  }
  return { category, results, children };
}

/** Errors that leak internals (stoul, "Cannot read properties") without naming the file: counted and listed. */
const INTERNAL = /Cannot read propert|is not a function|is not iterable|undefined is not|Maximum call stack|\bstou?ll?\b|std::|basic_string|vector::/;
const unclearError = (r) => r.outcome === 'error' && INTERNAL.test(r.message) && !/^\w*Error: \/\S+: /.test(r.message);

/** Run the suite; returns per-category results and the totals. */
async function runFuzz(options = {}) {
  const opts = { heapMB: 1024, rssLimitMB: 2048, caseTimeoutMs: 60000, concurrency: 2, ...options };
  opts.categories ??= Object.keys(COUNTS);
  const base = opts.base ?? fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-fuzz-'));
  const setup = cp.spawnSync(process.execPath, [CHILD, 'setup', base], { encoding: 'utf8' });
  if (setup.status !== 0) throw new Error(`fuzz setup failed: ${setup.stderr}`);
  const queue = [...opts.categories];
  const out = [];
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (queue.length) out.push(await runCategory(base, queue.shift(), opts));
    }),
  );
  if (!options.base) fs.rmSync(base, { recursive: true, force: true });
  const all = out.flatMap((c) => c.results);
  const totals = {
    cases: all.length,
    ok: all.filter((r) => r.outcome === 'ok').length,
    errors: all.filter((r) => r.outcome === 'error').length,
    unclear: all.filter(unclearError).length,
    nonErrors: all.filter((r) => r.outcome === 'nonerror').length,
    crashes: all.filter((r) => r.outcome === 'crash').length,
    peakCaseRssMB: Math.max(0, ...all.map((r) => r.rssMB ?? 0)),
    children: out.reduce((a, c) => a + c.children, 0),
  };
  return { totals, categories: out, crashes: all.filter((r) => r.outcome === 'crash'), unclear: all.filter(unclearError) };
}

module.exports = { runFuzz };

if (require.main === module) {
  const t0 = Date.now();
  runFuzz({ categories: process.argv.length > 2 ? process.argv.slice(2) : undefined }).then((r) => {
    for (const c of r.categories) {
      const n = (o) => c.results.filter((x) => x.outcome === o).length;
      console.log(`${c.category}: ${c.results.length} cases, ${n('ok')} ok, ${n('error')} errors, ${n('crash')} crashes (${c.children} children)`);
    }
    for (const x of r.crashes) console.log(`CRASH ${x.id} ${JSON.stringify(x.case)}: ${x.message}`);
    for (const x of r.unclear) console.log(`UNCLEAR ${x.id}: ${x.message}`);
    console.log(JSON.stringify(r.totals), `${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
}
