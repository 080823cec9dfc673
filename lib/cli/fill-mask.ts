/** `radbert-native fill-mask "CT of the [MASK] shows ..."`: transformers' fill-mask pipeline on a masked-LM folder. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { sourceOf } from '../hub/ids';
import { loadMaskedLM, type FillMaskCandidate } from '../model/masked-lm';
import { DEVICE_OPTION, num, out, str } from './common';
import { DEFAULT_MLM_OUTPUT } from './mlm';
import type { CommandSpec, Parsed } from './options';

/** The fill-mask command's flags. */
export const FILL_MASK: CommandSpec = {
  name: 'fill-mask',
  usage: 'usage: npx radbert-native fill-mask "CT of the [MASK] shows ..." ["text" ...] [--model DIR] [--top-k 5] [--json]',
  positionals: true,
  options: {
    model: { type: 'string', desc: `ModernBertForMaskedLM folder or Hub id org/name (default ./${DEFAULT_MLM_OUTPUT})` },
    revision: { type: 'string', desc: 'Hub revision of --model org/name' },
    'top-k': { type: 'integer', desc: 'candidates per mask', default: 5, min: 1 },
    json: { type: 'boolean', desc: "print the pipeline's JSON ([{score, token, token_str, sequence}] per mask)" },
    device: DEVICE_OPTION,
    bf16: { type: 'boolean', desc: 'bf16 autocast' },
  },
};

/** Run fill-mask with parsed flags. */
export async function fillMaskCommand({ values, positionals }: Parsed): Promise<number> {
  if (!positionals.length) throw new UsageError('fill-mask: give a text with [MASK], e.g. npx radbert-native fill-mask "CT of the [MASK] shows a mass"');
  const arg = str(values, 'model');
  const hub = arg !== undefined && sourceOf(arg)?.kind === 'hub';
  const dir = hub ? arg : path.resolve(arg ?? DEFAULT_MLM_OUTPUT);
  if (!hub && !fs.existsSync(dir)) throw new Error(`${dir}: no model here; train one with \`npx radbert-native mlm\` or pass --model DIR`);
  const lm = await loadMaskedLM(dir, { revision: str(values, 'revision'), device: str(values, 'device') as 'auto' | 'cpu' | 'cuda' | undefined, dtype: values.bf16 === true ? 'bfloat16' : 'float32' });
  try {
    const topK = num(values, 'top-k') ?? 5;
    const results: Array<FillMaskCandidate[] | FillMaskCandidate[][]> = [];
    for (const text of positionals) results.push(await lm.fillMask(text, { topK }));
    if (values.json) {
      out(JSON.stringify(positionals.length === 1 ? results[0] : results, null, 2));
      return 0;
    }
    positionals.forEach((text, i) => {
      out(text);
      const r = results[i];
      const perMask = (Array.isArray(r[0]) ? r : [r]) as FillMaskCandidate[][];
      perMask.forEach((cands, m) => {
        if (perMask.length > 1) out(`  mask ${m + 1}:`);
        for (const c of cands) out(`  ${c.score.toFixed(4)}  ${JSON.stringify(c.token_str)}  ${c.sequence}`);
      });
    });
    return 0;
  } finally {
    lm.close();
  }
}
