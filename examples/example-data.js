'use strict';
// What the examples share: a tokenizer folder, and small radiology captions with their UMLS CUIs written as JSONL.
//
// The tokenizer is ModernBERT's: the folder named by RADBERT_TOKENIZER, else the repository's test copy
// (../shared/models/modernbert-tokenizer beside the clone). To get it:
//   huggingface-cli download answerdotai/ModernBERT-base tokenizer.json tokenizer_config.json --local-dir modernbert-tokenizer
//   export RADBERT_TOKENIZER=$PWD/modernbert-tokenizer
const fs = require('node:fs');
const path = require('node:path');

/** The tokenizer folder the examples use; throws saying how to get one. */
function tokenizerDir() {
  const dir = process.env.RADBERT_TOKENIZER || path.resolve(__dirname, '..', '..', 'shared', 'models', 'modernbert-tokenizer');
  if (fs.existsSync(path.join(dir, 'tokenizer.json'))) return dir;
  throw new Error(
    `no tokenizer.json in ${dir}: set RADBERT_TOKENIZER to a folder with ModernBERT's tokenizer ` +
      '(huggingface-cli download answerdotai/ModernBERT-base tokenizer.json tokenizer_config.json --local-dir modernbert-tokenizer)',
  );
}

const MODALITIES = [['CT', 'C0040405'], ['MRI', 'C0024485'], ['Ultrasound', 'C0041618'], ['Radiograph', 'C0043299']];
const REGIONS = [['chest', 'C0817096'], ['abdomen', 'C0000726'], ['brain', 'C0006104'], ['knee', 'C0022742']];
const FINDINGS = [['pneumothorax', 'C0032326'], ['a cyst', 'C0010709'], ['a fracture', 'C0016658'], ['no abnormality', null]];

/** `n` captions like "CT of the chest showing a cyst" with their CUIs, the same ones every run for a given `offset`. */
function captions(n, offset = 0) {
  const rows = [];
  for (let i = offset; i < offset + n; i++) {
    const [m, mc] = MODALITIES[i % 4];
    const [r, rc] = REGIONS[Math.floor(i / 4) % 4];
    const [f, fc] = FINDINGS[Math.floor(i / 16) % 4];
    rows.push({ caption: `${m} of the ${r} showing ${f}`, cui: [mc, rc, ...(fc ? [fc] : [])].sort() });
  }
  return rows;
}

/** Writes rows as JSON Lines (one object per line), the format `train` and `readRows` read. */
function writeJsonl(file, rows) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

module.exports = { tokenizerDir, captions, writeJsonl };
