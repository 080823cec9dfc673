/** Hub errors: HubError, and turning whatever a Hub call threw into one that names the repo and what to check. */
import { noTokenHelp } from './env';

/** An error talking to the Hub or using its cache; the message names the repo, revision / file and what to check. */
export class HubError extends Error {
  constructor(
    message: string,
    /** HTTP status, when the Hub answered with one. */
    readonly status?: number,
    /** The repo concerned ('org/name'). */
    readonly repoId?: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** `text` with the token replaced by ***. */
export function redact(text: string, token: string | undefined): string {
  return token ? text.split(token).join('***') : text;
}

/** Which repo a Hub call is about, for error messages. */
export interface Ctx {
  type: 'model' | 'dataset';
  repoId: string;
  revision?: string;
  token?: string;
  endpoint: string;
}

/** `model org/name (revision 'r'), file f`. */
export function what(ctx: Ctx, file?: string): string {
  return `${ctx.type} ${ctx.repoId}${ctx.revision ? ` (revision '${ctx.revision}')` : ''}${file ? `, file ${file}` : ''}`;
}

/** The network error code of a failed fetch, if it is one. */
export function networkCode(err: unknown): string | undefined {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TypeError' && /fetch failed|terminated|network/i.test(e.message ?? '')) return e.cause?.code ?? e.cause?.message ?? e.message;
  if (typeof (e as { code?: unknown })?.code === 'string' && /^E[A-Z]+/.test((e as { code: string }).code)) return (e as { code: string }).code;
  return undefined;
}

/** Turn whatever a Hub call threw into a HubError that says which repo and what to check (never containing the token). */
export function toHubError(err: unknown, ctx: Ctx, action: string, file?: string): HubError {
  if (err instanceof HubError) return new HubError(redact(err.message, ctx.token), err.status, err.repoId ?? ctx.repoId);
  const e = err as { statusCode?: number; message?: string; name?: string };
  const subject = what(ctx, file);
  let msg: string;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const serverSays = (e?.message ?? '').replace(/\. URL: .*$/, '');
  if (status === 401) {
    msg = ctx.token
      ? `${action} ${subject}: the Hub at ${ctx.endpoint} rejected the token (401 ${serverSays}). Check that HF_TOKEN / the token saved by \`huggingface-cli login\` is valid, not expired, and can see this repo`
      : `${action} ${subject}: the Hub at ${ctx.endpoint} answered 401 (${serverSays}): the repo does not exist, or it is private or gated and needs a token: ${noTokenHelp()}`;
  } else if (status === 403) {
    msg = `${action} ${subject}: the token has no permission (403 ${serverSays}). For a gated repo, accept its conditions on its Hub page; to push, use a token with write access to the namespace`;
  } else if (status === 404) {
    const isRev = /rev/i.test(serverSays);
    const isEntry = /entry/i.test(serverSays);
    msg = isEntry
      ? `${action} ${subject}: the file is not in the repo (404 ${serverSays})`
      : isRev
        ? `${action} ${subject}: no such revision (404 ${serverSays}); check the branch, tag or commit`
        : `${action} ${subject}: not found on ${ctx.endpoint} (404 ${serverSays}). Check the repo id${ctx.token ? '' : `; if it is private, ${noTokenHelp()}`}`;
  } else if (status !== undefined) {
    msg = `${action} ${subject}: the Hub at ${ctx.endpoint} answered ${status} (${serverSays})`;
  } else if (networkCode(err)) {
    msg = `${action} ${subject}: cannot reach the Hugging Face Hub at ${ctx.endpoint} (${networkCode(err)}). Check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the local cache`;
  } else if (/access token must start with/i.test(e?.message ?? '')) {
    msg = `${action} ${subject}: the Hugging Face token is malformed (tokens start with "hf_"); ${noTokenHelp()}`;
  } else {
    msg = `${action} ${subject}: ${e?.message ?? String(err)}`;
  }
  return new HubError(redact(msg, ctx.token), status, ctx.repoId);
}

/** fetch that turns a network failure into a HubError saying the Hub cannot be reached. */
export function hubFetch(ctx: Ctx): typeof fetch {
  return async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (err) {
      if ((err as { name?: string })?.name === 'AbortError') throw err;
      const code = networkCode(err) ?? (err as Error)?.message;
      throw new HubError(`cannot reach the Hugging Face Hub at ${ctx.endpoint} (${code}). Check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the local cache`, undefined, ctx.repoId);
    }
  };
}
