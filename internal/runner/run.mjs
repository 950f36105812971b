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
// The last event, once it is written out: process.exit drops what a pipe
// has not taken yet, and a large execution's events are far ahead of the
// reader.
const emitLast = (o) => new Promise((resolve) => process.stdout.write(JSON.stringify(o) + '\n', resolve));

// Every Task state, at any depth, is overridden with a call to the runner.
const overrides = {};
const retryIntervals = {};
// Wait states become Tasks too, whose handler asks the runner to pause
// (runner.go servePause): the runner decides how long a local wait lasts
// (tests and the demo do not wait for real), and a test can hold the
// execution there while it changes the world, such as a scan completing.
// Their events still say Wait.
const waits = new Set();
function walk(states) {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === 'Wait') {
      waits.add(name);
      const task = { Type: 'Task', Resource: 'arn:aws:states:::ferry-local:wait', Comment: s.Comment };
      for (const k of ['Next', 'End']) {
        if (s[k] !== undefined) task[k] = s[k];
      }
      overrides[name] = (input) => pause(name, s, input);
      states[name] = task;
      continue;
    }
    if (s.Type === 'Task') {
      overrides[name] = (input) => invoke(name, s.Resource, input);
      if (req.retryIntervalMs !== undefined && s.Retry) retryIntervals[name] = req.retryIntervalMs;
    }
    if (s.Type === 'Map') walk((s.ItemProcessor ?? s.Iterator).States);
    if (s.Type === 'Parallel') s.Branches.forEach((b) => walk(b.States));
  }
}
walk(req.definition.States);

// Distributed Map states run here, not in aws-local-stepfunctions, which
// has no ItemReader or ResultWriter: each becomes a Task whose handler
// reads the items from the runner's S3 stand-in, runs one child execution
// of the ItemProcessor per item (at most MaxConcurrency at once, each a
// StateMachine of its own with the same task overrides), and writes the
// children's results and manifest.json as ResultWriter does.
const distributed = new Set();
for (const [name, s] of Object.entries(req.definition.States)) {
  if (s.Type !== 'Map' || s.ItemProcessor?.ProcessorConfig?.Mode !== 'DISTRIBUTED') continue;
  distributed.add(name);
  const resource = 'arn:aws:states:::ferry-local:distributed-map';
  const task = { Type: 'Task', Resource: resource, Comment: s.Comment };
  for (const k of ['InputPath', 'ResultPath', 'OutputPath', 'Retry', 'Catch', 'Next', 'End']) {
    if (s[k] !== undefined) task[k] = s[k];
  }
  overrides[name] = (input) => distributedMap(name, s, input);
  req.definition.States[name] = task;
}

function jsonPath(path, input, ctx) {
  let root = input;
  let p = path;
  if (p.startsWith('$$')) {
    root = ctx;
    p = p.slice(2);
  } else {
    p = p.slice(1);
  }
  let v = root;
  for (const part of p.split('.').filter((x) => x !== '')) {
    if (v === undefined || v === null) return undefined;
    v = v[part];
  }
  return v;
}

function fill(params, input, ctx) {
  if (params === undefined) return input;
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    if (k.endsWith('.$')) out[k.slice(0, -2)] = jsonPath(v, input, ctx);
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) out[k] = fill(v, input, ctx);
    else out[k] = v;
  }
  return out;
}

async function s3(method, bucket, key, body) {
  const res = await fetch(`${req.invokeURL}/s3/${bucket}/${key}`, { method, body });
  if (!res.ok) {
    const err = new Error(`S3 ${method} s3://${bucket}/${key}: ${res.status} ${await res.text()}`);
    err.name = method === 'GET' ? 'States.ItemReaderFailed' : 'States.ResultWriterFailed';
    throw err;
  }
  return method === 'GET' ? res.text() : undefined;
}

async function distributedMap(name, s, input) {
  const ctx = req.context;
  let items;
  if (s.ItemReader) {
    const at = fill(s.ItemReader.Parameters, input, ctx);
    const text = await s3('GET', at.Bucket, at.Key);
    const type = s.ItemReader.ReaderConfig?.InputType;
    items = type === 'JSONL' ? text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l)) : JSON.parse(text);
  } else {
    items = jsonPath(s.ItemsPath ?? '$', input, ctx);
  }
  const mapRun = Math.random().toString(16).slice(2, 10);
  const smArn = ctx.StateMachine.Id;
  const mapRunArn = `${smArn.replace(':stateMachine:', ':mapRun:')}/${name.replace(/[^\w-]/g, '-')}:${mapRun}`;
  const ip = s.ItemProcessor;
  const results = new Array(items.length);
  let next = 0;
  const limit = Math.max(1, s.MaxConcurrency || 1000);
  async function child(i) {
    const childCtx = { ...ctx, Map: { Item: { Index: i, Value: items[i] } } };
    const childInput = s.ItemSelector ? fill(s.ItemSelector, input, childCtx) : items[i];
    const childName = `${mapRun}-${i}`;
    const start = new Date().toISOString();
    const parentState = { name, type: 'Map' };
    emit({ type: 'MapIterationStarted', timestamp: Date.now(), index: i, parentState });
    const sm = new StateMachine({ StartAt: ip.StartAt, States: ip.States }, { validationOptions: { checkArn: false } });
    const ex = sm.run(childInput, {
      overrides: { taskResourceLocalHandlers: overrides, retryIntervalOverrides: retryIntervals },
      context: { ...ctx, Execution: { ...ctx.Execution, Id: `${mapRunArn}:${childName}`, Name: childName, Input: childInput } },
    });
    const logs = (async () => {
      for await (const ev of ex.eventLogs) {
        if (ev.type.startsWith('Execution')) continue;
        if (ev.state && waits.has(ev.state.name)) ev.state.type = 'Wait';
        emit({ ...ev, index: i, parentState });
      }
    })();
    const r = { ExecutionArn: `${mapRunArn}:${childName}`, Name: childName, StateMachineArn: smArn, Input: JSON.stringify(childInput), StartDate: start };
    try {
      r.Output = JSON.stringify(await ex.result);
      r.Status = 'SUCCEEDED';
      await logs;
      emit({ type: 'MapIterationSucceeded', timestamp: Date.now(), index: i, parentState });
    } catch (e) {
      await logs.catch(() => {});
      const err = e.name === 'ExecutionError' && e.cause ? e.cause : e;
      r.Status = 'FAILED';
      r.Error = err.name;
      r.Cause = err.message;
      emit({ type: 'MapIterationFailed', timestamp: Date.now(), index: i, parentState, Error: err.name, Cause: err.message });
    }
    r.StopDate = new Date().toISOString();
    results[i] = r;
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await child(next++);
  }));
  const failed = results.filter((r) => r.Status !== 'SUCCEEDED').length;
  const tolerated = s.ToleratedFailurePercentage ?? 0;
  if (items.length > 0 && (failed * 100) / items.length > tolerated) {
    const err = new Error(`${failed} of ${items.length} child executions failed, more than the ${tolerated}% tolerated`);
    err.name = 'States.ExceedToleratedFailureThreshold';
    throw err;
  }
  if (!s.ResultWriter) return results.map((r) => (r.Output ? JSON.parse(r.Output) : r));
  const at = fill(s.ResultWriter.Parameters, input, ctx);
  const base = `${at.Prefix.replace(/\/$/, '')}/${mapRun}`;
  const files = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const status of ['SUCCEEDED', 'FAILED']) {
    const lines = results.filter((r) => (r.Status === 'SUCCEEDED') === (status === 'SUCCEEDED')).map((r) => JSON.stringify(r));
    if (lines.length === 0) continue;
    const key = `${base}/${status}_0.json`;
    const body = lines.join('\n') + '\n';
    await s3('PUT', at.Bucket, key, body);
    files[status].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${base}/manifest.json`;
  await s3('PUT', at.Bucket, manifestKey, JSON.stringify({ DestinationBucket: at.Bucket, MapRunArn: mapRunArn, ResultFiles: files }));
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: at.Bucket, Key: manifestKey } };
}

// pause is a Wait state: the seconds it would wait in AWS (Seconds,
// SecondsPath, or until Timestamp/TimestampPath), which the runner
// shortens or holds; it passes its input on, as a Wait does.
async function pause(state, s, input) {
  let seconds = s.Seconds;
  if (s.SecondsPath !== undefined) seconds = jsonPath(s.SecondsPath, input, req.context);
  const until = s.Timestamp ?? (s.TimestampPath !== undefined ? jsonPath(s.TimestampPath, input, req.context) : undefined);
  if (until !== undefined) seconds = Math.max(0, (Date.parse(until) - Date.now()) / 1000);
  if (typeof seconds !== 'number' || seconds < 0) {
    const err = new Error(`Wait state ${state}: ${s.SecondsPath ?? s.TimestampPath} is not a non-negative number of seconds or a timestamp`);
    err.name = 'States.Runtime';
    throw err;
  }
  const res = await fetch(req.invokeURL + '/pause', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ state, seconds }),
  });
  if (!res.ok) {
    const err = new Error(`Wait state ${state}: ${res.status} ${await res.text()}`);
    err.name = 'States.Runtime';
    throw err;
  }
  return input;
}

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
  for await (const ev of execution.eventLogs) {
    // A Distributed Map ran as a Task: show it as the Map it is.
    if (ev.state && distributed.has(ev.state.name)) ev.state.type = 'Map';
    if (ev.state && waits.has(ev.state.name)) ev.state.type = 'Wait';
    emit(ev);
  }
})();
try {
  const output = await execution.result;
  await logs;
  await emitLast({ type: 'RunnerDone', status: 'SUCCEEDED', output });
} catch (e) {
  await logs.catch(() => {});
  const err = e.name === 'ExecutionError' && e.cause ? e.cause : e;
  await emitLast({ type: 'RunnerDone', status: 'FAILED', error: err.name, cause: err.message });
}
process.exit(0); // a task still waiting for a token must not keep Node alive
