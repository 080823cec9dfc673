/**
 * Hugging Face model folders: find config.json, the weights (model.safetensors or a sharded index) and the tokenizer;
 * write a folder that transformers' from_pretrained loads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError } from '../errors';
import { readJsonFile, tempName, writeFileAtomic } from '../files';
import { readConfigFile, stringifyConfig, toHFConfigJson, type HFConfig } from './config';
import type { NativeModel } from '../native';

/** What a model folder holds. */
export interface ModelFolder {
  /** The folder (absolute). */
  dir: string;
  /** Its config.json. */
  configFile: string;
  /** config.json's content. */
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
  const index = readJsonFile<unknown>(indexFile, { malformed: 'malformed index' });
  const map = index && typeof index === 'object' ? (index as { weight_map?: unknown }).weight_map : undefined;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new FileError(indexFile, 'has no weight_map object {"tensor key": "shard file"}', 'weight_map');
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
      'no weights: looked for model.safetensors and model.safetensors.index.json' +
        (bin ? ' (found pytorch_model.bin, which' : ' (pytorch_model.bin') +
        ' is not supported: convert it to safetensors, e.g. `AutoModelForSequenceClassification.from_pretrained(dir).save_pretrained(dir)` in Python)',
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

/** Files copied along with a tokenizer.json when saving a model folder. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** The tokenizer.json named by a file-or-folder argument, or an error naming what was looked for. */
function tokenizerSource(from: string): string {
  const stat = fs.statSync(from, { throwIfNoEntry: false });
  if (!stat) throw new FileError(from, 'tokenizer not found');
  const file = stat.isDirectory() ? path.join(from, 'tokenizer.json') : from;
  if (!fs.existsSync(file)) throw new FileError(from, 'no tokenizer.json here to copy into the model folder');
  return file;
}

/**
 * Record the max_length a model was trained (or is used) with as tokenizer_config.json's model_max_length, as
 * transformers does when a tokenizer with that model_max_length is saved: load() and every command then truncate there.
 */
function writeModelMaxLength(file: string, maxLength: number): void {
  const cfg = fs.existsSync(file) ? readJsonFile<Record<string, unknown>>(file) : {};
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new FileError(file, 'is not a JSON object');
  writeFileAtomic(file, JSON.stringify({ ...cfg, model_max_length: maxLength }, null, 2) + '\n');
}

/**
 * Save an HF model folder: config.json (as transformers 5.17 writes it, readable by 4.x too), model.safetensors
 * (f32, metadata {format: "pt"}), the tokenizer files beside `tokenizerFrom` (a tokenizer.json or its folder) and
 * label_names.json when given, and modelMaxLength as tokenizer_config.json's model_max_length. Every file is written under a temporary name and renamed into place.
 */
export async function saveModelFolder(
  dir: string,
  options: { config: HFConfig; model: NativeModel; tokenizerFrom?: string; labelNames?: Record<string, string>; modelMaxLength?: number },
): Promise<void> {
  const configText = stringifyConfig(toHFConfigJson(options.config, path.join(dir, 'config.json')));
  const srcTok = options.tokenizerFrom ? tokenizerSource(options.tokenizerFrom) : undefined;
  fs.mkdirSync(dir, { recursive: true });
  const weights = path.join(dir, 'model.safetensors');
  const tmpWeights = tempName(weights);
  try {
    await options.model.saveWeights(tmpWeights, { metadata: { format: 'pt' } });
    fs.renameSync(tmpWeights, weights);
  } catch (err) {
    fs.rmSync(tmpWeights, { force: true });
    throw err;
  }
  writeFileAtomic(path.join(dir, 'config.json'), configText);
  if (srcTok) {
    const srcDir = path.dirname(srcTok);
    for (const name of TOKENIZER_FILES) {
      const src = name === 'tokenizer.json' ? srcTok : path.join(srcDir, name);
      const dst = path.join(dir, name);
      if (fs.existsSync(src) && path.resolve(src) !== path.resolve(dst)) writeFileAtomic(dst, fs.readFileSync(src));
    }
  }
  if (options.modelMaxLength !== undefined) writeModelMaxLength(path.join(dir, 'tokenizer_config.json'), options.modelMaxLength);
  if (options.labelNames) writeFileAtomic(path.join(dir, 'label_names.json'), JSON.stringify(options.labelNames, null, 2) + '\n');
}
