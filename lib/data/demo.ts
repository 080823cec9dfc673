/**
 * Built-in demo data for `npx radbert-native train` when the seed's model and dataset are not in the local Hugging Face
 * cache: templated radiology captions over a few dozen real UMLS CUIs (modality, body region, view, finding), a
 * CUI → name table (label_names.json), and a tokenizer (the ModernBERT tokenizer when the project's copy is there,
 * else a small WordPiece tokenizer.json built from the demo captions, loadable by @huggingface/tokenizers and Python
 * tokenizers). Deterministic: the same files every time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../files';

/** UMLS CUIs used by the demo and their preferred names (checked against ROCO captions where they occur). */
export const DEMO_LABEL_NAMES: Record<string, string> = {
  C0040405: 'X-Ray Computed Tomography',
  C0024485: 'Magnetic Resonance Imaging',
  C0041618: 'Ultrasonography',
  C0043299: 'Diagnostic radiologic examination',
  C0002978: 'Angiogram',
  C0817096: 'Chest',
  C0000726: 'Abdomen',
  C0018670: 'Head',
  C0006104: 'Brain',
  C0030797: 'Pelvis',
  C0037949: 'Vertebral column',
  C0022742: 'Knee',
  C0023884: 'Liver',
  C0022646: 'Kidney',
  C0024109: 'Lung',
  C0018787: 'Heart',
  C0935598: 'Sagittal plane',
  C0009924: 'Contrast Media',
  C0032326: 'Pneumothorax',
  C0032227: 'Pleural effusion disorder',
  C0016658: 'Fracture',
  C0027651: 'Neoplasms',
  C0010709: 'Cyst',
  C0002940: 'Aneurysm',
  C0028259: 'Nodule',
  C0032285: 'Pneumonia',
};

const MODALITIES: Array<[string[], string]> = [
  [['CT', 'Computed tomography', 'CT scan', 'Axial CT image'], 'C0040405'],
  [['MRI', 'Magnetic resonance imaging', 'MR image', 'T2-weighted MRI'], 'C0024485'],
  [['Ultrasound', 'Ultrasonography', 'Sonographic image'], 'C0041618'],
  [['Radiograph', 'X-ray', 'Plain radiograph'], 'C0043299'],
  [['Angiography', 'Angiogram', 'CT angiography'], 'C0002978'],
];
const REGIONS: Array<[string, string[]]> = [
  ['Chest', ['C0817096']],
  ['Abdomen', ['C0000726']],
  ['Head', ['C0018670']],
  ['Brain', ['C0006104']],
  ['Pelvis', ['C0030797']],
  ['Spine', ['C0037949']],
  ['Knee', ['C0022742']],
  ['Liver', ['C0023884']],
  ['Kidney', ['C0022646']],
  ['Lung', ['C0024109']],
  ['Heart', ['C0018787']],
];
const FINDINGS: Array<[string, string[], string[]]> = [
  // phrase, CUIs, regions where it makes sense
  ['pneumothorax', ['C0032326'], ['Chest', 'Lung']],
  ['pleural effusion', ['C0032227'], ['Chest', 'Lung']],
  ['fracture', ['C0016658'], ['Pelvis', 'Spine', 'Knee', 'Head', 'Chest']],
  ['tumor', ['C0027651'], ['Brain', 'Liver', 'Kidney', 'Lung', 'Abdomen', 'Pelvis']],
  ['cyst', ['C0010709'], ['Liver', 'Kidney', 'Brain', 'Knee', 'Abdomen']],
  ['aneurysm', ['C0002940'], ['Brain', 'Abdomen', 'Chest', 'Head']],
  ['nodule', ['C0028259'], ['Lung', 'Liver', 'Chest']],
  ['pneumonia', ['C0032285'], ['Chest', 'Lung']],
  ['no abnormality', [], []],
];
const VERBS = ['showing', 'with', 'demonstrating', 'revealing', 'shows'];
const SIDES = ['', 'left ', 'right ', 'large ', 'small '];

/** A deterministic generator (mulberry32): the demo data never changes (tests draw reproducible cases from it too). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One demo example. */
export interface DemoRow {
  caption: string;
  cui: string[];
}

/** `n` templated captions with their CUIs (deterministic for a given seed). */
export function demoCaptions(n: number, seed = 1): DemoRow[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const rows: DemoRow[] = [];
  for (let i = 0; i < n; i++) {
    const [mNames, mCui] = pick(MODALITIES);
    const [region, rCuis] = pick(REGIONS);
    const fitting = FINDINGS.filter((f) => f[2].includes(region) || f[2].length === 0);
    const [finding, fCuis] = pick(fitting);
    const cuis = new Set<string>([mCui, ...rCuis, ...fCuis]);
    const mod = pick(mNames);
    const contrast = rnd() < 0.2;
    const sagittal = mCui === 'C0024485' && rnd() < 0.3;
    if (contrast) cuis.add('C0009924');
    if (sagittal) cuis.add('C0935598');
    const prefix = `${sagittal ? 'Sagittal ' : ''}${contrast ? 'Contrast-enhanced ' : ''}`;
    const modText = prefix ? prefix + mod.charAt(0).toLowerCase() + mod.slice(1) : mod;
    const findingText = finding === 'no abnormality' ? 'no abnormality' : `${pick(SIDES)}${finding}`;
    const form = Math.floor(rnd() * 3);
    const caption =
      form === 0
        ? `${modText} of the ${region.toLowerCase()} ${pick(VERBS)} ${findingText}.`
        : form === 1
          ? `${region} ${mod.replace(/^Axial /, '')} ${pick(VERBS)} ${findingText}`
          : `${modText} ${region} with ${findingText}`;
    rows.push({ caption, cui: [...cuis].sort() });
  }
  return rows;
}

/** Special tokens of the generated tokenizer, ids 0..4. */
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** A WordPiece tokenizer.json (whole-word vocabulary + single characters, lower case, [CLS] x [SEP]) built from texts. */
export function buildWordTokenizer(texts: string[]): { tokenizer: Record<string, unknown>; config: Record<string, unknown>; vocabSize: number } {
  const words = new Set<string>();
  const chars = new Set<string>();
  for (const t of texts) {
    for (const w of t.toLowerCase().match(/[a-z0-9]+|[^\sa-z0-9]/g) ?? []) {
      words.add(w);
      for (const c of w) chars.add(c);
    }
  }
  const vocab: Record<string, number> = {};
  for (const s of SPECIALS) vocab[s] = Object.keys(vocab).length;
  for (const w of [...words].sort()) vocab[w] = Object.keys(vocab).length;
  for (const c of [...chars].sort()) if (vocab[`##${c}`] === undefined) vocab[`##${c}`] = Object.keys(vocab).length;
  for (const c of [...chars].sort()) if (vocab[c] === undefined) vocab[c] = Object.keys(vocab).length;
  const special = (id: string) => ({ id, ids: [vocab[id]], tokens: [id] });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': special('[CLS]'), '[SEP]': special('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: 512,
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    model_input_names: ['input_ids', 'attention_mask'],
  };
  return { tokenizer, config, vocabSize: Object.keys(vocab).length };
}

/** The project's copy of the ModernBERT tokenizer (../shared/models/modernbert-tokenizer beside the repo), if present. */
export function sharedTokenizerDir(): string | undefined {
  const root = path.resolve(__dirname, '..', '..');
  for (const dir of [path.join(root, '..', 'shared', 'models', 'modernbert-tokenizer'), path.join(root, 'shared', 'models', 'modernbert-tokenizer')]) {
    if (fs.existsSync(path.join(dir, 'tokenizer.json'))) return dir;
  }
  return undefined;
}

/** What writeDemo produced. */
export interface DemoFiles {
  /** Folder holding data/train.jsonl and data/test.jsonl. */
  dataset: string;
  /** Tokenizer folder (tokenizer.json + tokenizer_config.json). */
  tokenizer: string;
  /** Whether the tokenizer is the generated WordPiece one (true) or the ModernBERT one (false). */
  generatedTokenizer: boolean;
  /** label_names.json path. */
  labelNames: string;
  /** Token ids of [PAD]/[CLS]/[SEP] etc. to put into the model config when the tokenizer is generated. */
  configOverrides: Record<string, unknown>;
}

/** Write the demo dataset (train 800 / test 150 captions), label names and a tokenizer under `dir` (default: a temp folder). */
export function writeDemo(dir = path.join(os.tmpdir(), 'radbert-native-demo'), options: { forceGeneratedTokenizer?: boolean } = {}): DemoFiles {
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { recursive: true });
  const train = demoCaptions(800, 1);
  const test = demoCaptions(150, 2);
  const jsonl = (rows: DemoRow[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileAtomic(path.join(data, 'train.jsonl'), jsonl(train));
  writeFileAtomic(path.join(data, 'test.jsonl'), jsonl(test));
  const labelNames = path.join(dir, 'label_names.json');
  writeFileAtomic(labelNames, JSON.stringify(DEMO_LABEL_NAMES, null, 2) + '\n');
  const shared = options.forceGeneratedTokenizer ? undefined : sharedTokenizerDir();
  if (shared) return { dataset: dir, tokenizer: shared, generatedTokenizer: false, labelNames, configOverrides: {} };
  const tokDir = path.join(dir, 'tokenizer');
  fs.mkdirSync(tokDir, { recursive: true });
  const extra = ['CT of Chest with pneumothorax', ...Object.values(DEMO_LABEL_NAMES)];
  const { tokenizer, config, vocabSize } = buildWordTokenizer([...train, ...test].map((r) => r.caption).concat(extra));
  writeFileAtomic(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileAtomic(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  return {
    dataset: dir,
    tokenizer: tokDir,
    generatedTokenizer: true,
    labelNames,
    configOverrides: { vocab_size: vocabSize, pad_token_id: 0, cls_token_id: 2, sep_token_id: 3, bos_token_id: 2, eos_token_id: 3 },
  };
}
