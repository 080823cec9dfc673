/** The Hub's environment: endpoint, HF_HOME and the cache folder, offline mode, the token (as huggingface_hub reads them). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The Hub to use: $HF_ENDPOINT without trailing slashes, default https://huggingface.co. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** `~` and `~/...` → the home folder. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(): string {
  if (process.env.HF_HOME) return expandHome(process.env.HF_HOME);
  if (process.env.XDG_CACHE_HOME) return path.join(expandHome(process.env.XDG_CACHE_HOME), 'huggingface');
  return path.join(os.homedir(), '.cache', 'huggingface');
}

/** The Hub cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub (~/.cache/huggingface/hub). */
export function hubCacheDir(): string {
  const env = process.env.HF_HUB_CACHE || process.env.HUGGINGFACE_HUB_CACHE;
  return env ? expandHome(env) : path.join(hfHome(), 'hub');
}

/** Whether $HF_HUB_OFFLINE is set to 1 / true / yes / on. */
export function hubOffline(): boolean {
  return /^(1|true|yes|on)$/i.test((process.env.HF_HUB_OFFLINE ?? '').trim());
}

/** The token to use: `explicit`, else $HF_TOKEN ($HUGGING_FACE_HUB_TOKEN), else the file $HF_TOKEN_PATH or $HF_HOME/token (`huggingface-cli login`). */
export function hubToken(explicit?: string): string | undefined {
  const pick = (t: string | undefined) => (t && t.trim() ? t.trim() : undefined);
  const direct = pick(explicit) ?? pick(process.env.HF_TOKEN) ?? pick(process.env.HUGGING_FACE_HUB_TOKEN);
  if (direct) return direct;
  try {
    return pick(fs.readFileSync(tokenFile(), 'utf8'));
  } catch {
    return undefined;
  }
}

/** The token file that `huggingface-cli login` writes and hubToken() reads: $HF_TOKEN_PATH, else $HF_HOME/token. */
export function tokenFile(): string {
  return process.env.HF_TOKEN_PATH ? expandHome(process.env.HF_TOKEN_PATH) : path.join(hfHome(), 'token');
}

/** How to give a token, said in every error that needs one (naming the token file of this environment). */
export function noTokenHelp(): string {
  const file = tokenFile();
  const home = os.homedir();
  const shown = file === home || file.startsWith(home + path.sep) ? `~${file.slice(home.length)}` : file;
  return `set HF_TOKEN=hf_... in the environment, or run \`huggingface-cli login\` (\`hf auth login\`), which writes ${shown}`;
}
