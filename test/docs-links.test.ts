/**
 * The documentation holds together: every relative link in README.md, CONTRIBUTING.md, CHANGELOG.md, examples/README.md
 * and docs/*.md points to a file that exists and, with a #fragment, to a heading there (GitHub's anchor rules); the
 * README stays a front door (at most 250 lines); no guide speaks in issue numbers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './helpers/paths';

const DOCS = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'examples/README.md', ...fs.readdirSync(path.join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The text outside fenced code blocks and inline code spans (links there are examples, not links). */
function prose(md: string): string {
  return md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors of a Markdown file: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of md.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = m[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

test.each(DOCS)('%s: relative links resolve to files and headings', (doc) => {
  const file = path.join(REPO, doc);
  const broken: string[] = [];
  for (const m of prose(fs.readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [rel, fragment] = target.split('#');
    const dest = rel ? path.resolve(path.dirname(file), decodeURIComponent(rel)) : file;
    if (!fs.existsSync(dest)) {
      broken.push(`${target}: no such file`);
    } else if (fragment !== undefined && dest.endsWith('.md') && !anchors(fs.readFileSync(dest, 'utf8')).has(fragment)) broken.push(`${target}: no such heading`);
  }
  expect(broken).toEqual([]);
});

test('the README is at most 250 lines, and no guide names issue numbers', () => {
  expect(fs.readFileSync(path.join(REPO, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(251); // 250 lines + final newline
  for (const doc of DOCS.filter((d) => d !== 'CHANGELOG.md')) {
    expect([doc, prose(fs.readFileSync(path.join(REPO, doc), 'utf8')).match(/\bissues? \d+|\(#\d+\)/gi)]).toEqual([doc, null]);
  }
});
