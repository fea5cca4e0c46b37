import { tracingChannel } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { context, trace, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ENGINE_CHANNELS } from '@keylane/engine';
import { createClient, SDK_CHANNELS, type KeylaneClient } from '@keylane/sdk';
import { createTestContext, type TestContext } from '@keylane/harness';
import { createServer, type ItemService } from '../src/server.js';
import { captureLogger, testConfig } from './helpers.js';

/**
 * docs/opentelemetry.md, run for real: the SDK's and the engine's diagnostics channels turned
 * into OpenTelemetry spans with @opentelemetry/api, the caller's context carried to the item
 * service as `traceparent`, so the caller's span, the SDK request, the service's request and
 * the engine's lane wait, transaction, statements and scripts are one trace.
 */

// ---- the example (docs/opentelemetry.md shows this part) ----------------------------------
const tracer = trace.getTracer('keylane-example');
const spans = new WeakMap<object, Span>();

/** One OpenTelemetry span per tracing-channel span, a child of whatever context is active at start. */
function spansFrom(channelName: string, spanName: string, attributes: (ctx: Record<string, unknown>) => Record<string, string | number | boolean>): () => void {
  const channel = tracingChannel<unknown, Record<string, unknown>>(channelName);
  const handlers = {
    start: (ctx: Record<string, unknown>) => spans.set(ctx, tracer.startSpan(spanName, { attributes: attributes(ctx) })),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (ctx: Record<string, unknown>) => {
      const span = spans.get(ctx);
      if (!span) return;
      span.setAttributes(attributes(ctx));
      if (ctx['error'] !== undefined) span.setStatus({ code: 2, message: String((ctx['error'] as { code?: string }).code ?? 'error') });
      span.end();
    },
    error: () => {},
  };
  channel.subscribe(handlers);
  return () => channel.unsubscribe(handlers);
}

function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/** The service side: each request runs in a span whose parent is the caller's `traceparent`. */
function traceRequests(service: ItemService): void {
  const byRequest = new WeakMap<object, Span>();
  service.app.addHook('onRequest', (request, _reply, done) => {
    const header = request.headers['traceparent'];
    const [, traceId, spanId, flags] = typeof header === 'string' ? header.split('-') : [];
    const parent: Context =
      traceId && spanId ? trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: Number.parseInt(flags ?? '01', 16), isRemote: true }) : context.active();
    const span = tracer.startSpan(`item-service ${request.method}`, { attributes: { 'http.request_id': String(request.id) } }, parent);
    byRequest.set(request, span);
    // The rest of the request (route, engine) runs inside this context.
    context.with(trace.setSpan(parent, span), done);
  });
  service.app.addHook('onResponse', (request, reply, done) => {
    byRequest.get(request)?.setAttribute('http.status_code', reply.statusCode).end();
    done();
  });
}
// ---- end of the example --------------------------------------------------------------------

let ctx: TestContext;
let service: ItemService;
let client: KeylaneClient;
const exporter = new InMemorySpanExporter();
const stops: (() => void)[] = [];

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  ctx = await createTestContext({ name: 'itemsvc_otel' });
  service = await createServer(testConfig(ctx), { logger: captureLogger().logger, processMetrics: false });
  traceRequests(service);
  const url = await service.listen();
  client = createClient({ instances: [url] });
  await client.ready();
  stops.push(
    spansFrom(SDK_CHANNELS.request, 'keylane.sdk.request', (c) => ({ method: String(c['method']), key: String(c['key']), instance: String(c['instance']), attempt: Number(c['attempt']), 'request.id': String(c['requestId']), ...(c['status'] === undefined ? {} : { status: Number(c['status']) }) })),
    spansFrom(ENGINE_CHANNELS.mutate, 'keylane.mutate', (c) => ({ entity: String(c['entity']), key: String(c['key']) })),
    spansFrom(ENGINE_CHANNELS.laneWait, 'keylane.lane_wait', (c) => ({ lane: Number(c['lane']), ahead: Number(c['ahead']) })),
    spansFrom(ENGINE_CHANNELS.transaction, 'keylane.transaction', (c) => ({ committed: typeof c['committed'] === 'string' ? c['committed'] : '' })),
    spansFrom(ENGINE_CHANNELS.query, 'pg.query', (c) => ({ 'db.statement': String(c['text']).slice(0, 40) })),
    spansFrom(ENGINE_CHANNELS.redisScript, 'redis.evalsha', (c) => ({ script: String(c['script']) })),
  );
});

afterAll(async () => {
  for (const stop of stops) stop();
  await client?.close();
  await service?.close();
  await ctx?.dispose();
});

describe('docs/opentelemetry.md', () => {
  it('one trace: the caller, the SDK request, the service request, the lane wait, the transaction, its statements and the guard scripts', async () => {
    await tracer.startActiveSpan('checkout', async (root) => {
      await client.put(77n, { total: 12 }, { traceparent: traceparentOf(root) });
      root.end();
    });
    const finished = exporter.getFinishedSpans();
    const root = finished.find((s) => s.name === 'checkout')!;
    const inTrace = finished.filter((s) => s.spanContext().traceId === root.spanContext().traceId);
    const parentOf = (s: ReadableSpan): ReadableSpan | undefined => inTrace.find((p) => p.spanContext().spanId === s.parentSpanContext?.spanId);
    const tree = (s: ReadableSpan, depth: number): string[] => [
      `${'  '.repeat(depth)}${s.name} ${JSON.stringify(s.attributes)}`,
      ...inTrace
        .filter((c) => parentOf(c) === s)
        .sort((a, b) => (a.startTime[0] - b.startTime[0]) * 1e9 + (a.startTime[1] - b.startTime[1]))
        .flatMap((c) => tree(c, depth + 1)),
    ];
    const printed = tree(root, 0);
    process.stdout.write(`${printed.join('\n')}\n`);
    const names = printed.map((l) => l.trim().split(' ')[0]);
    expect(names.slice(0, 3)).toEqual(['checkout', 'keylane.sdk.request', 'item-service']);
    // Everything the engine did for the request is inside the service's span.
    const served = inTrace.find((s) => s.name.startsWith('item-service'))!;
    const inside = inTrace.filter((s) => parentOf(s) === served).map((s) => s.name);
    for (const name of ['keylane.mutate', 'keylane.lane_wait', 'keylane.transaction', 'pg.query', 'redis.evalsha']) expect(inside).toContain(name);
    expect(inside.filter((n) => n === 'redis.evalsha')).toHaveLength(2);
    expect(inTrace.every((s) => s === root || parentOf(s) !== undefined)).toBe(true);
  });
});
