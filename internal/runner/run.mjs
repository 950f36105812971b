// Runs one execution of a state machine with aws-local-stepfunctions and
// sends every Lambda task to the Go side (Ferry's runner), which invokes the
// real handlers. Written by internal/runner; not meant to be run by hand.
//
// argv: <module path of aws-local-stepfunctions> <request file>
// The request file is JSON: {definition, input, context, invokeURL,
// retryIntervalMs, redrive}. Events go to stdout, one JSON object per line.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, requestFile] = process.argv.slice(2);
const { StateMachine } = await import(pathToFileURL(modulePath).href);
const req = JSON.parse(readFileSync(requestFile, 'utf8'));
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// Every Task state, at any depth, is overridden with a call to the runner.
const overrides = {};
const retryIntervals = {};
function walk(states) {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === 'Task') {
      overrides[name] = (input) => invoke(name, s.Resource, input);
      if (req.retryIntervalMs !== undefined && s.Retry) retryIntervals[name] = req.retryIntervalMs;
    }
    if (s.Type === 'Map') walk((s.ItemProcessor ?? s.Iterator).States);
    if (s.Type === 'Parallel') s.Branches.forEach((b) => walk(b.States));
  }
}
walk(req.definition.States);

async function invoke(state, resource, input) {
  const wait = resource.endsWith('.waitForTaskToken');
  const res = await fetch(req.invokeURL + (wait ? '/wait' : '/invoke'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ state, resource, functionName: input.FunctionName, payload: input.Payload }),
  });
  const body = await res.json();
  if (body.errorType) {
    // The Lambda error shape: Error is the Go type name, Cause the JSON
    // error document, as Step Functions reports a failed lambda:invoke.
    const err = new Error(body.cause ?? JSON.stringify({ errorMessage: body.errorMessage, errorType: body.errorType }));
    err.name = body.errorType;
    throw err;
  }
  if (wait) return body.output;
  return { ExecutedVersion: '$LATEST', Payload: body.payload, StatusCode: 200 };
}

// A redrive starts at the state that failed, so the states before it are
// unreachable from StartAt: the definition was validated on the first
// attempt, as AWS validates it once, at creation.
const sm = new StateMachine(req.definition, { validationOptions: { checkArn: false, noValidate: req.redrive === true } });
const execution = sm.run(req.input, {
  overrides: { taskResourceLocalHandlers: overrides, retryIntervalOverrides: retryIntervals },
  context: req.context,
});
const logs = (async () => {
  for await (const ev of execution.eventLogs) emit(ev);
})();
try {
  const output = await execution.result;
  await logs;
  emit({ type: 'RunnerDone', status: 'SUCCEEDED', output });
} catch (e) {
  await logs.catch(() => {});
  const err = e.name === 'ExecutionError' && e.cause ? e.cause : e;
  emit({ type: 'RunnerDone', status: 'FAILED', error: err.name, cause: err.message });
}
process.exit(0); // a task still waiting for a token must not keep Node alive
