/** training_curves.svg: the picture of a run's log history (loss and validation metrics per evaluation), in the run folder. */
import * as path from 'node:path';
import { writeFileAtomic } from '../files';
import { trainingCurvesSpec } from '../plot/charts';
import { renderSvg } from '../plot/vega';
import type { LogEntry } from './options';

/** The file's name in a run folder (the model card embeds it). */
export const TRAINING_CURVES_FILE = 'training_curves.svg';

/** Draw a run's training curves into `<dir>/training_curves.svg`; returns the file. */
export async function writeTrainingCurves(dir: string, history: LogEntry[], kind: 'classification' | 'mlm', lossName?: string): Promise<string> {
  const title = kind === 'mlm' ? 'Masked-LM training' : 'Multi-label classifier training';
  const svg = await renderSvg(trainingCurvesSpec(history, kind, title, lossName));
  const file = path.join(dir, TRAINING_CURVES_FILE);
  writeFileAtomic(file, svg);
  return file;
}
