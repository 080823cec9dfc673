/**
 * Hugging Face model folders: find config.json, the weights (model.safetensors or a sharded index) and the tokenizer;
 * write a folder that transformers' from_pretrained loads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError } from './errors';
import { readConfigFile, stringifyConfig, toHFConfigJson, type HFConfig } from './config';
import type { NativeModel } from './native';

/** What a model folder holds. */
export interface ModelFolder {
  dir: string;
  configFile: string;
  config: HFConfig;
  /** Safetensors files holding the weights (one, or the shards of an index). */
  weightFiles: string[];
  /** tokenizer.json, when the folder has one. */
  tokenizerFile?: string;
  /** label_names.json (CUI → readable name), when present. */
  labelNamesFile?: string;
}

/** The shard files named by a model.safetensors.index.json, each checked to exist. */
export function shardFiles(indexFile: string): string[] {
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (err) {
    throw new FileError(indexFile, `malformed index: ${(err as Error).message}`);
  }
  const map = index.weight_map;
  if (!map || typeof map !== 'object') throw new FileError(indexFile, 'has no weight_map object', 'weight_map');
  const dir = path.dirname(indexFile);
  const files = new Map<string, string>();
  for (const [key, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.'))
      throw new FileError(indexFile, `shard name ${JSON.stringify(shard)} must be a plain file name`, `weight_map.${key}`);
    const full = path.join(dir, shard);
    if (!files.has(shard)) {
      if (!fs.existsSync(full)) throw new FileError(indexFile, `names shard "${shard}", which is missing from ${dir}`, `weight_map.${key}`);
      files.set(shard, full);
    }
  }
  if (files.size === 0) throw new FileError(indexFile, 'weight_map is empty', 'weight_map');
  return [...files.values()];
}

/** Resolve a local Hugging Face model folder; errors say what was looked for. */
export function resolveModelFolder(dir: string): ModelFolder {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat) throw new FileError(dir, 'model folder not found');
  if (!stat.isDirectory()) throw new FileError(dir, 'is not a folder (a Hugging Face model folder holds config.json and model.safetensors)');
  const configFile = path.join(dir, 'config.json');
  const config = readConfigFile(configFile);
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  let weightFiles: string[];
  if (fs.existsSync(single)) weightFiles = [single];
  else if (fs.existsSync(index)) weightFiles = shardFiles(index);
  else {
    const bin = fs.existsSync(path.join(dir, 'pytorch_model.bin'));
    throw new FileError(
      dir,
      `no weights: looked for model.safetensors and model.safetensors.index.json` +
        (bin ? ' (pytorch_model.bin is not supported: convert it with `model.save_pretrained(dir, safe_serialization=True)`)' : ''),
    );
  }
  const tok = path.join(dir, 'tokenizer.json');
  const names = path.join(dir, 'label_names.json');
  return {
    dir,
    configFile,
    config,
    weightFiles,
    tokenizerFile: fs.existsSync(tok) ? tok : undefined,
    labelNamesFile: fs.existsSync(names) ? names : undefined,
  };
}

/** Write a file atomically (temp file + rename), so a crash never leaves a half-written file under the real name. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Files copied along with a tokenizer.json when saving a model folder. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** Save an HF model folder: config.json, model.safetensors, tokenizer files (copied from `tokenizerFrom`'s folder). */
export async function saveModelFolder(
  dir: string,
  options: { config: HFConfig; model: NativeModel; tokenizerFrom?: string; labelNames?: Record<string, string> },
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'config.json'), stringifyConfig(toHFConfigJson(options.config)));
  await options.model.saveWeights(path.join(dir, 'model.safetensors'), { metadata: { format: 'pt' } });
  if (options.tokenizerFrom) {
    const srcDir = fs.statSync(options.tokenizerFrom).isDirectory() ? options.tokenizerFrom : path.dirname(options.tokenizerFrom);
    const srcTok = fs.statSync(options.tokenizerFrom).isDirectory() ? path.join(srcDir, 'tokenizer.json') : options.tokenizerFrom;
    for (const name of TOKENIZER_FILES) {
      const src = name === 'tokenizer.json' ? srcTok : path.join(srcDir, name);
      const dst = path.join(dir, name);
      if (fs.existsSync(src) && path.resolve(src) !== path.resolve(dst)) writeFileAtomic(dst, fs.readFileSync(src));
    }
  }
  if (options.labelNames) writeFileAtomic(path.join(dir, 'label_names.json'), JSON.stringify(options.labelNames, null, 2) + '\n');
}
