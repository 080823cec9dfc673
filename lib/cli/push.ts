/** `radbert-native push`: upload a trained model folder with a generated model card to the Hub. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { defaultRepoId, pushToHub } from '../hub/push';
import { DEFAULT_OUTPUT, out, str } from './common';
import type { CommandSpec, Parsed } from './options';

/** The push command's flags. */
export const PUSH: CommandSpec = {
  name: 'push',
  usage: `usage: npx radbert-native push --model DIR --repo-id NAME [options]

Uploads a trained model folder (config.json, model.safetensors, tokenizer files, label_names.json, training_args.json,
trainer_state.json) with a generated model card to the Hugging Face Hub, creating the repo if needed.`,
  epilog: 'Authentication: HF_TOKEN, or the token file of `huggingface-cli login`. HF_ENDPOINT selects another Hub.',
  options: {
    model: { type: 'string', desc: 'model folder', default: `./${DEFAULT_OUTPUT}` },
    'repo-id': { type: 'string', desc: 'org/name or name (under your user); default: <your user>/<folder name>' },
    private: { type: 'boolean', desc: 'create the repo private' },
    revision: { type: 'string', desc: 'push to this branch' },
    'commit-message': { type: 'string', desc: 'commit title' },
  },
};

/** Run push with parsed flags. */
export async function pushCommand({ values }: Parsed): Promise<number> {
  const dir = path.resolve(str(values, 'model') ?? DEFAULT_OUTPUT);
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new UsageError(`push: ${dir} is not a model folder (no config.json); pass --model DIR`);
  const repoId = str(values, 'repo-id') ?? (await defaultRepoId(dir));
  const pushed = await pushToHub(dir, { repoId, private: values.private === true, revision: str(values, 'revision'), commitMessage: str(values, 'commit-message') });
  out(`pushed ${dir} to ${pushed.repoUrl}`);
  out(pushed.commitUrl);
  return 0;
}
