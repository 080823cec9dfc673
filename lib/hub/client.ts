/** @huggingface/hub, the HTTP client of every Hub call, loaded on first use. */
import type * as HubLib from '@huggingface/hub';

/** The @huggingface/hub module's type. */
export type Lib = typeof HubLib;
let hubLib: Lib | undefined;
/** @huggingface/hub, loaded on first use (it ships a CommonJS build, so no dynamic import is needed). */
export function lib(): Lib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (hubLib ??= require('@huggingface/hub') as Lib);
}
