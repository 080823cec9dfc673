/** Where tests find the repository and `../shared` (the real tokenizer and datasets; CI puts shared/ beside the clone). */
import * as path from 'node:path';

/** The repository root. */
export const REPO = path.resolve(__dirname, '..', '..');
/** The shared folder beside the repository. */
export const SHARED = path.resolve(REPO, '..', 'shared');
/** roco-radiology-mini (the seed's dataset, parquet splits train/test). */
export const MINI = path.join(SHARED, 'datasets', 'roco-radiology-mini');
/** roco-radiology (the series' MLM corpus source). */
export const FULL = path.join(SHARED, 'datasets', 'roco-radiology');
/** The real ModernBERT tokenizer folder. */
export const TOKENIZER = path.join(SHARED, 'models', 'modernbert-tokenizer');
