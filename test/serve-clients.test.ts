/**
 * Hugging Face's own clients against `serve`, unchanged and pointed at the server's base URL with its API key:
 * `@huggingface/inference` (InferenceClient.textClassification({endpointUrl})) from here, and huggingface_hub's
 * InferenceClient(url).text_classification from the reference venv. Both must return what transformers'
 * text-classification pipeline returns for the same model folder (labels in the same order, scores ≤ 1e-5 apart,
 * the bound of test/parity.test.ts), for sigmoid, softmax and none, with and without top_k, one text or several.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { InferenceClient } from '@huggingface/inference';
import { load, type Classifier } from '../lib';
import { startServer, type RunningServer } from '../lib/serve/server';
import { describeNative, ensureFixtures, manifest } from './helpers/fixtures';
import { pythonRef } from './helpers/python';

jest.setTimeout(300_000);

const KEY = 'clients-test-key';
const TOL = 1e-5;

type Scored = Array<{ label: string; score: number }>;
// a type alias, not an interface: @huggingface/inference's parameters type has an index signature, which only an
// alias's object type satisfies implicitly
type Variant = {
  function_to_apply?: 'sigmoid' | 'softmax' | 'none';
  top_k?: number;
};
const VARIANTS: Variant[] = [{}, { top_k: 3 }, { function_to_apply: 'softmax' }, { function_to_apply: 'none', top_k: 4 }, { function_to_apply: 'sigmoid', top_k: 1 }];

/** Run a Python script in the reference venv without blocking this process (the server under test lives here). */
function pythonAsync(code: string, input: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      pythonRef(),
      ['-c', code],
      // not HF_HUB_OFFLINE: huggingface_hub then refuses every request, the local server's too (the model is a local folder)
      { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 240_000, env: { ...process.env, HF_HUB_OFFLINE: '0', HF_HUB_DISABLE_TELEMETRY: '1', PYTHONIOENCODING: 'utf-8' } },
      (err, stdout, stderr) => (err ? reject(new Error(`python failed: ${stderr || err.message}`)) : resolve(stdout)),
    );
    child.stdin!.end(JSON.stringify(input));
  });
}

/** transformers' pipeline and huggingface_hub's client on the same texts and variants, in one Python process. */
const PY = `
import json, sys, warnings
warnings.filterwarnings("ignore")
from huggingface_hub import InferenceClient
from transformers import pipeline
args = json.load(sys.stdin)
pipe = pipeline("text-classification", model=args["model"], device="cpu")
client = InferenceClient(model=args["url"], token=args["key"])
out = {"pipeline": [], "client": [], "errors": {}}
def flat(r):  # transformers 5 wraps one text's list in a list
    return r[0] if r and isinstance(r[0], list) else r
for v in args["variants"]:
    kw = {"top_k": v.get("top_k"), "function_to_apply": v.get("function_to_apply", "sigmoid")}
    out["pipeline"].append([flat(pipe(t, truncation=True, **kw)) for t in args["texts"]])
    got = [client.text_classification(t, **{k: x for k, x in v.items()}) for t in args["texts"]]
    out["client"].append([[{"label": e.label, "score": e.score} for e in r] for r in got])
for name, c in [("wrong_key", InferenceClient(model=args["url"], token="not-the-key")), ("no_route", InferenceClient(model=args["url"] + "/nowhere", token=args["key"]))]:
    try:
        c.text_classification(args["texts"][0])
        out["errors"][name] = None
    except Exception as e:
        out["errors"][name] = [type(e).__name__, str(e), getattr(getattr(e, "response", None), "status_code", None)]
print(json.dumps(out))
`;

function expectSame(got: Scored, want: Scored, what: string): number {
  expect({ what, labels: got.map((x) => x.label) }).toEqual({ what, labels: want.map((x) => x.label) });
  let worst = 0;
  got.forEach((x, i) => (worst = Math.max(worst, Math.abs(x.score - want[i].score))));
  expect({ what, worst: worst <= TOL }).toEqual({ what, worst: true });
  return worst;
}

describeNative()('Hugging Face clients against serve (HF Inference API text-classification on POST /)', () => {
  let clf: Classifier;
  let server: RunningServer;
  let texts: string[];
  let ref: { pipeline: Scored[][]; client: Scored[][]; errors: Record<string, [string, string, number | null] | null> };
  const model = () => path.join(ensureFixtures(), 'awkward', 'model');

  beforeAll(async () => {
    clf = await load(model());
    texts = manifest(ensureFixtures()).texts_a.slice(0, 4);
    server = await startServer(clf, 'fixtures/awkward', { port: 0, log: 'silent', apiKey: KEY });
    ref = JSON.parse((await pythonAsync(PY, { model: model(), url: server.url, key: KEY, texts, variants: VARIANTS })).trim().split('\n').pop()!);
  });
  afterAll(async () => {
    await server?.close();
  });

  test('huggingface_hub InferenceClient(url, token).text_classification returns the pipeline\'s answer', () => {
    let worst = 0;
    VARIANTS.forEach((v, i) =>
      texts.forEach((_, j) => (worst = Math.max(worst, expectSame(ref.client[i][j], ref.pipeline[i][j], `python ${JSON.stringify(v)} text ${j}`)))),
    );
    expect(ref.client[0][0]).toHaveLength(clf.labels.length); // every label by default, as the pipeline with top_k=None
    console.log(`huggingface_hub vs transformers pipeline: max |Δscore| ${worst.toExponential(2)} over ${VARIANTS.length * texts.length} calls`);
  });

  test('huggingface_hub: a wrong key is an HTTP 401 error carrying the server\'s message', () => {
    const [, message, status] = ref.errors.wrong_key!;
    expect(status).toBe(401);
    expect(message).toContain('the API key is not valid');
    expect(ref.errors.no_route![2]).toBe(404);
  });

  test('@huggingface/inference textClassification({endpointUrl, inputs, parameters}) returns the pipeline\'s answer', async () => {
    const hf = new InferenceClient(KEY);
    let worst = 0;
    for (const [i, v] of VARIANTS.entries()) {
      for (const [j, text] of texts.entries()) {
        const parameters = Object.keys(v).length ? v : undefined;
        const got = await hf.textClassification({ endpointUrl: server.url, inputs: text, ...(parameters ? { parameters } : {}) });
        worst = Math.max(worst, expectSame(got, ref.pipeline[i][j], `js ${JSON.stringify(v)} text ${j}`));
      }
    }
    // the endpoint form of the client too
    const viaEndpoint = await new InferenceClient(KEY).endpoint(server.url).textClassification({ inputs: texts[0], parameters: { top_k: 2 } });
    expectSame(viaEndpoint, ref.pipeline[0][0].slice(0, 2), 'js endpoint()');
    console.log(`@huggingface/inference vs transformers pipeline: max |Δscore| ${worst.toExponential(2)}`);
  });

  test('@huggingface/inference: a wrong key rejects with the server\'s 401 message', async () => {
    await expect(new InferenceClient('not-the-key').textClassification({ endpointUrl: server.url, inputs: texts[0] })).rejects.toThrow('the API key is not valid');
  });
});
