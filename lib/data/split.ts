/** The seed's train / validation / test split (HF datasets' shuffle(seed=42), bit-exact). */
import { DataError, type Row, type Splits } from './readers';
import { permutation } from './rng';

/** Options of seedSplit. */
export interface SplitOptions {
  /** shuffle seed (default 42, the seed's) */
  seed?: number;
  /** validation size as a fraction of train + test (default 0.15, the seed's) */
  validationFraction?: number;
  /**
   * Where validation rows come from: 'resplit' (default, the seed's: a shuffled share of train) or 'dataset' (the
   * source's own 'validation' split, with train used whole in its order).
   */
  validationSource?: 'resplit' | 'dataset';
}

/**
 * The seed's split: validation = first int(0.15 * (|train| + |test|)) rows of train.shuffle(seed=42) (HF datasets order,
 * bit-exact), train = the rest in shuffled order, test unchanged. A source's own 'validation' split is not used unless
 * options.validationSource is 'dataset'.
 */
export function seedSplit(
  splits: Splits,
  options: SplitOptions = {},
): {
  /** The training rows, in shuffled order. */
  train: Row[];
  /** The validation rows. */
  validation: Row[];
  /** The test rows, unchanged. */
  test: Row[];
} {
  const { seed = 42, validationFraction = 0.15, validationSource = 'resplit' } = options;
  const train = splits.train;
  if (!train) throw new DataError(`no 'train' split (have: ${Object.keys(splits).join(', ') || 'none'})`);
  const test = splits.test ?? [];
  if (validationSource === 'dataset') {
    if (!splits.validation?.length) throw new DataError(`--validation-split-source dataset: the dataset has no 'validation' split (have: ${Object.keys(splits).join(', ')})`);
    return { train, validation: splits.validation, test };
  }
  const size = Math.floor(validationFraction * (train.length + test.length));
  if (size < 0 || size > train.length) throw new DataError(`validation size ${size} does not fit in ${train.length} train rows`);
  const order = permutation(train.length, seed).map((i) => train[i]);
  return { validation: order.slice(0, size), train: order.slice(size), test };
}
