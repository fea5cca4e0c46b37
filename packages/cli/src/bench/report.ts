import type { StrategyName } from '@keylane/engine';
import { CEILING_NAMES, type CeilingName } from './ceilings.js';
import { PERCENTILE_KEYS, type PercentileKey } from './latency.js';
import type { BenchResult } from './bench-result.js';
import type { Spread } from './stats.js';
import { BENTOCACHE_SETUPS } from './bentocache-target.js';
import { BENTOCACHE, DIRECT, EMBEDDED, type SystemName, type TargetVerdict } from './summary.js';
import { PALETTE, renderBarChart } from './svg.js';
import { OVERLOAD_FACTOR } from './overload.js';
import { PEER_KEYS, PEER_NAMES, PEER_PROCESSES, PEER_READ_SHARE, PEER_SYSTEMS } from './peers.js';
import { WORKLOAD_LABELS, WORKLOAD_NAMES } from './workloads.js';

const CEILING_LABELS: Readonly<Record<CeilingName, string>> = {
  'redis-get': 'Redis GET (ioredis, 1 connection)',
  'http-hop': 'bare HTTP hop (1 Fastify process, undici Pool of 16)',
  'http-hop-fleet': 'bare HTTP hop x3 (3 Fastify processes, a Pool of 16 each, like the fleet)',
  'hop-redis-fleet':
    'bare HTTP hop + Redis GET x3 (3 Fastify processes, each one GET per request answered as it came)',
  'pg-select': "pg primary-key SELECT (Pool of one instance's lanes)",
  'pg-update': 'pg single-row UPSERT, autocommit (same Pool)',
};
const PERCENTILE_LABELS: Readonly<Record<PercentileKey, string>> = {
  p50Ms: 'p50',
  p90Ms: 'p90',
  p99Ms: 'p99',
  p999Ms: 'p99.9',
};

export function systemsOf(result: BenchResult): SystemName[] {
  const s = result.summary;
  const names = new Set<SystemName>([
    ...Object.keys(s.closed),
    ...Object.keys(s.open),
  ] as SystemName[]);
  const ordered: SystemName[] = [...result.config.strategies.filter((n) => names.has(n))];
  if (names.has(DIRECT)) ordered.push(DIRECT);
  if (names.has(EMBEDDED)) ordered.push(EMBEDDED);
  for (const setup of BENTOCACHE_SETUPS)
    if (names.has(BENTOCACHE[setup])) ordered.push(BENTOCACHE[setup]);
  return ordered;
}

/** `median [min-max]`, formatted for the size of the numbers. */
export function fmtSpread(s: Spread | null | undefined, digits?: number): string {
  if (!s) return '-';
  const f = (v: number): string => fmtNumber(v, digits);
  return s.min === s.max ? f(s.median) : `${f(s.median)} [${f(s.min)}-${f(s.max)}]`;
}

export function fmtNumber(v: number, digits?: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (digits !== undefined) return v.toFixed(digits);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function verdictWord(t: TargetVerdict): string {
  return t.met === null ? 'not measured' : t.met ? '**met**' : '**missed**';
}

function unitSuffix(t: TargetVerdict): string {
  return t.unit === 'x' || t.unit === '%' ? t.unit : ` ${t.unit}`;
}

function fmtTargetValue(t: TargetVerdict): string {
  if (!t.measured) return '-';
  const digits = t.unit === 'ns' ? 0 : t.unit === '%' ? 1 : 2;
  return `${fmtSpread(t.measured, digits)}${unitSuffix(t)}`;
}

/** `>= 3x`, and `(every run)` when the verdict is on the worst run. */
function fmtBound(t: TargetVerdict): string {
  return `${t.comparison} ${t.bound}${unitSuffix(t)}${t.judgedOn === 'every run' ? ' (every run)' : ''}`;
}

/** The SVG charts, by file name. */
export function renderCharts(result: BenchResult): Record<string, string> {
  const s = result.summary;
  const systems = systemsOf(result);
  const charts: Record<string, string> = {};
  if (systems.length > 0) {
    charts['throughput.svg'] = renderBarChart({
      title: `Closed-loop throughput, ${result.config.concurrency} callers (median of ${result.config.runs} runs)`,
      unit: 'ops/s',
      groups: WORKLOAD_NAMES.map((w) => WORKLOAD_LABELS[w]),
      series: systems.map((name, i) => ({ name, color: PALETTE[i % PALETTE.length]! })),
      value: (g, i) => s.closed[systems[i]!]?.[WORKLOAD_NAMES[g]!]?.throughput ?? null,
    });
    for (const w of WORKLOAD_NAMES) {
      if (!systems.some((n) => s.open[n]?.[w])) continue;
      charts[`latency-${w}.svg`] = renderBarChart({
        title: `Open-loop latency at ${result.config.ratePerSec} ops/s, ${WORKLOAD_LABELS[w]}`,
        unit: 'ms (from intended send time)',
        logScale: true,
        groups: systems,
        series: PERCENTILE_KEYS.map((k, i) => ({ name: PERCENTILE_LABELS[k], color: PALETTE[i]! })),
        value: (g, i) => s.open[systems[g]!]?.[w]?.[PERCENTILE_KEYS[i]!] ?? null,
      });
    }
  }
  const ceilings = CEILING_NAMES.filter((c) => s.ceilings[c]);
  const readHit = (Object.keys(s.readHit) as StrategyName[]).filter((n) => s.readHit[n]);
  if (ceilings.length > 0 || readHit.length > 0) {
    const groups = [...ceilings, ...readHit.map((n) => `hit: ${n}`)];
    charts['ceilings.svg'] = renderBarChart({
      title: `Mean latency at ${result.config.concurrency} concurrent requests: ceilings and the read-hit path`,
      unit: 'ms',
      groups,
      series: [{ name: 'mean latency', color: PALETTE[0] }],
      value: (g) =>
        g < ceilings.length
          ? s.ceilings[ceilings[g]!]!.meanMs
          : s.readHit[readHit[g - ceilings.length]!]!.meanMs,
    });
  }
  return charts;
}

export interface MarkdownOptions {
  /** Link prefix of the charts relative to the report, e.g. "charts/". */
  chartsHref: string;
  /** The results JSON, relative to the report. */
  resultsHref: string;
  /** The command line that produced it. */
  command: string;
  /** Hand-written analysis appended under "Why" (Markdown). */
  notes?: string;
}

/** Whether a fleet ran (its setup paragraph applies): the strategies or single-flight section. */
function fleetRan(only: readonly string[]): boolean {
  return only.includes('strategies') || only.includes('single-flight');
}

export function renderMarkdown(result: BenchResult, options: MarkdownOptions): string {
  const s = result.summary;
  const c = result.config;
  const m = result.machine;
  const systems = systemsOf(result);
  const charts = renderCharts(result);
  const lines: string[] = [];
  const load = (l: number[]): string => l.map((v) => v.toFixed(2)).join(' / ');
  lines.push(
    '# Keylane bench: what consistency costs',
    '',
    `Run ${result.startedAt} to ${result.finishedAt} (${(result.durationMs / 60_000).toFixed(1)} min) with \`${options.command}\`.`,
    `Raw numbers: [${options.resultsHref}](${options.resultsHref}).`,
    '',
    `Machine: ${m.cpus} x ${m.cpuModel}, ${m.totalMemoryMb} MiB, ${m.platform}, Node ${m.node}. ` +
      `Load average (1/5/15 min) at start ${load(m.loadAverageAtStart)}, at end ${load(m.loadAverageAtEnd)}. ` +
      'Everything (Postgres, Redis, 3 service instances, the load generator) shares these cores.',
    '',
    fleetRan(c.only)
      ? `Setup: ${c.fleetSize} item-service instances per strategy (a fresh fleet each, ${c.lanesPerInstance} lanes each, ` +
          'the items table reset to the seeded rows before each; the strategies run in an order rotated from run to run), ' +
          `reached through @keylane/sdk (modulo routing, 16 connections per instance); ${c.keys} keys seeded in Postgres; ` +
          `Zipf exponent ${c.zipfExponent} (the hottest 1% of keys take ${(c.top1PercentShare * 100).toFixed(0)}% of operations); ` +
          `seed ${c.seed}. Closed loops: ${c.concurrency} callers, ${c.warmupMs} ms warm-up, ${c.durationMs} ms measured. ` +
          `Open loops: ${c.ratePerSec} ops/s offered for ${c.durationMs} ms, latency from each operation's intended send time ` +
          `(coordinated-omission corrected, HdrHistogram). Every figure is the median of ${c.runs} run(s), with [min-max]; ` +
          'every ratio is taken within one run and then the median of those ratios is shown. No chaos delays.'
      : `Sections run: ${c.only.join(', ')} (no fleet was started). Every figure is the median of ${c.runs} run(s), with [min-max].`,
    '',

    '## Targets',
    '',
    '| Target | Measured | Bound | Verdict |',
    '| --- | --- | --- | --- |',
  );
  for (const t of s.targets) {
    lines.push(
      `| ${t.statement}<br><sub>${t.measure}</sub> | ${fmtTargetValue(t)} | ${fmtBound(t)} | ${verdictWord(t)} |`,
    );
  }
  const failures = result.runs.flatMap((r) => [
    ...r.errors.map((e) => `run ${r.run}: ${e}`),
    ...r.strategies.flatMap((x) => (x.error ? [`run ${r.run}: ${x.strategy}: ${x.error}`] : [])),
  ]);
  if (failures.length > 0) {
    lines.push(
      '',
      '**Sections that produced no numbers** (left out of the medians):',
      '',
      ...failures.map((f) => `- ${f}`),
    );
  }
  const checked = Object.entries(s.checked);
  if (checked.length > 0) {
    lines.push(
      '',
      '## Stale reads under injected delays',
      '',
      "The systems that run in this process, each on the demo's workload (64 keys, 4 hot, 70% reads, 16 callers) " +
        "with the demo's injected delays (80 ms between a miss's DB read and its fill, 10 ms before a write's DB write), " +
        'recorded and checked for linearizability like the strategies of `keylane demo`. The throughput tables above ran without delays.',
      '',
      '| System | Operations | Stale reads (checker violations) |',
      '| --- | ---: | ---: |',
      ...checked.map(
        ([name, c]) => `| ${name} | ${fmtSpread(c.ops, 0)} | ${fmtSpread(c.violations, 0)} |`,
      ),
    );
  }
  if (options.notes && options.notes.trim() !== '') {
    lines.push('', '## Why (analysis of the misses)', '', options.notes.trim());
  }
  if (systems.length > 0) {
    lines.push(
      '',
      '## Throughput (closed loop)',
      '',
      `![throughput per strategy and workload](${options.chartsHref}throughput.svg)`,
      '',
      `ops/s, median [min-max] over runs; ${c.concurrency} callers.`,
      '',
      `| System | ${WORKLOAD_NAMES.map((w) => WORKLOAD_LABELS[w]).join(' | ')} |`,
      `| --- | ${WORKLOAD_NAMES.map(() => '---:').join(' | ')} |`,
    );
    for (const name of systems) {
      lines.push(
        `| ${name} | ${WORKLOAD_NAMES.map((w) => fmtSpread(s.closed[name]?.[w]?.throughput, 0)).join(' | ')} |`,
      );
    }
    const cpu = systems.flatMap((n) =>
      WORKLOAD_NAMES.map((w) => s.closed[n]?.[w]?.generatorCpu.median ?? 0),
    );
    if (cpu.length > 0) {
      lines.push(
        '',
        `The load generator (this process: SDK client, histograms) used ${fmtNumber(Math.min(...cpu), 2)}-${fmtNumber(Math.max(...cpu), 2)} CPU cores during these windows (medians per cell).`,
      );
    }
    const errs = systems
      .flatMap((n) =>
        WORKLOAD_NAMES.map(
          (w) => [n, w, (s.closed[n]?.[w]?.errors ?? 0) + (s.open[n]?.[w]?.errors ?? 0)] as const,
        ),
      )
      .filter(([, , e]) => e > 0);
    if (errs.length > 0) {
      lines.push(
        '',
        `Failed operations (closed + open loops, all runs): ${errs.map(([n, w, e]) => `${n} ${w}: ${e}`).join('; ')}.`,
      );
    }
    lines.push('', '## Latency (open loop, coordinated-omission corrected)', '');
    for (const w of WORKLOAD_NAMES) {
      if (!charts[`latency-${w}.svg`]) continue;
      lines.push(
        `### ${WORKLOAD_LABELS[w]}`,
        '',
        `![latency percentiles, ${w}](${options.chartsHref}latency-${w}.svg)`,
        '',
        `ms at ${c.ratePerSec} ops/s offered, median [min-max]. Percentiles are of the answered operations; the SDK gives up on a request after 2 s, so a system that falls behind also shows failures.`,
        '',
        `| System | achieved ops/s | failed (all runs) | ${PERCENTILE_KEYS.map((k) => PERCENTILE_LABELS[k]).join(' | ')} |`,
        `| --- | ---: | ---: | ${PERCENTILE_KEYS.map(() => '---:').join(' | ')} |`,
      );
      for (const name of systems) {
        const o = s.open[name]?.[w];
        if (!o) continue;
        lines.push(
          `| ${name} | ${fmtSpread(o.throughput, 0)} | ${o.errors} | ${PERCENTILE_KEYS.map((k) => fmtSpread(o[k])).join(' | ')} |`,
        );
      }
      lines.push('');
    }
    const engineRows = result.config.strategies.filter((n) => s.engine[n]);
    if (engineRows.length > 0) {
      lines.push(
        '## What the engines did (closed loops, from /metrics)',
        '',
        'Cache hit ratio of reads, and DB reads per operation, median over runs.',
        '',
        `| Strategy | ${WORKLOAD_NAMES.map((w) => `${w} hit ratio | ${w} DB reads/op`).join(' | ')} |`,
        `| --- | ${WORKLOAD_NAMES.map(() => '---: | ---:').join(' | ')} |`,
      );
      for (const n of engineRows) {
        lines.push(
          `| ${n} | ${WORKLOAD_NAMES.map((w) => `${fmtSpread(s.engine[n]?.[w]?.hitRatio, 3)} | ${fmtSpread(s.engine[n]?.[w]?.dbReadsPerOp, 3)}`).join(' | ')} |`,
        );
      }
      lines.push('');
    }
  }
  const ceilings = CEILING_NAMES.filter((n) => s.ceilings[n]);
  const readHits = result.config.strategies.filter((n) => s.readHit[n]);
  if (ceilings.length > 0 || readHits.length > 0) {
    lines.push(
      '## Ceilings and the read-hit path',
      '',
      `![ceilings and read-hit latency](${options.chartsHref}ceilings.svg)`,
      '',
      `Closed loop at the same ${c.concurrency} concurrent requests. The read-hit path reads 256 keys that were read once just before, so every read is a cache hit.`,
      '',
      '| Path | ops/s | mean ms | p50 ms | p99 ms | hit ratio |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const n of ceilings) {
      const x = s.ceilings[n]!;
      lines.push(
        `| ${CEILING_LABELS[n]} | ${fmtSpread(x.throughput, 0)} | ${fmtSpread(x.meanMs)} | ${fmtSpread(x.p50Ms)} | ${fmtSpread(x.p99Ms)} | |`,
      );
    }
    for (const n of readHits) {
      const x = s.readHit[n]!;
      lines.push(
        `| read hit via fleet: ${n} | ${fmtSpread(x.throughput, 0)} | ${fmtSpread(x.meanMs)} | ${fmtSpread(x.p50Ms)} | ${fmtSpread(x.p99Ms)} | ${fmtSpread(x.hitRatio, 3)} |`,
      );
    }
    lines.push('');
  }
  lines.push(...renderCpu(result), ...renderOverload(result), ...renderPeers(result));
  const flights = result.config.strategies.filter((n) => s.singleFlight[n]);
  if (flights.length > 0) {
    lines.push(
      '## Single-flight: DB reads per invalidation of a hot key',
      '',
      `For each instance alone: write the hot key through the SDK (an invalidation), then ${result.runs[0]?.strategies[0]?.singleFlight?.burst ?? c.singleFlightBurst} concurrent reads of it straight to that instance; ` +
        `DB reads counted from the instance's /metrics. ${c.singleFlightRounds} invalidations per instance per run.`,
      '',
      '| Strategy | worst instance | mean over instances |',
      '| --- | ---: | ---: |',
    );
    for (const n of flights) {
      lines.push(
        `| ${n} | ${fmtSpread(s.singleFlight[n]!.maxPerInstance, 2)} | ${fmtSpread(s.singleFlight[n]!.mean, 2)} |`,
      );
    }
    lines.push('');
  }
  if (s.deployments) {
    const d = s.deployments;
    const first = result.runs.find((r) => r.deployments)?.deployments;
    lines.push(
      '## Deployments: routed vs embedded on one hot key',
      '',
      `serial-guarded both: a fleet of ${d.routed.holders} instances read through the SDK (every read of the key goes to its owner), and ${d.embedded.holders} engines embedded in callers on one key prefix (each read by one of them in turn), ${d.routed.lanes} lanes each. ` +
        `Per round: the hot key's cached entry is deleted (as a TTL expiry or an outside change does), then ${first?.routed.burst ?? c.singleFlightBurst} concurrent reads; DB reads counted from the engines' counters, ${first?.routed.rounds ?? c.singleFlightRounds} rounds per run. ` +
        "Connections: the deployment's backends in pg_stat_activity (by application_name) after the load.",
      '',
      '| Deployment | DB reads per expiry (mean) | worst round | Postgres connections held |',
      '| --- | ---: | ---: | ---: |',
      `| routed (${d.routed.holders} instances) | ${fmtSpread(d.routed.dbReadsPerExpiry, 2)} | ${fmtSpread(d.routed.maxDbReadsPerExpiry, 0)} | ${fmtSpread(d.routed.pgConnections, 0)} |`,
      `| embedded (${d.embedded.holders} processes) | ${fmtSpread(d.embedded.dbReadsPerExpiry, 2)} | ${fmtSpread(d.embedded.maxDbReadsPerExpiry, 0)} | ${fmtSpread(d.embedded.pgConnections, 0)} |`,
      '',
    );
  }
  if (s.routing.length > 0) {
    lines.push(
      '## SDK routing',
      '',
      "ns per `getServiceConnection` with random bigint keys, median of 3 timed samples per run (after a warm-up), then median [min-max] over runs; CPU ns are this process's user+system time per call.",
      '',
      '| Instances | Strategy | wall ns | CPU ns |',
      '| ---: | --- | ---: | ---: |',
    );
    for (const r of s.routing)
      lines.push(
        `| ${r.instances} | ${r.strategy} | ${fmtSpread(r.wallNs, 0)} | ${fmtSpread(r.cpuNs, 0)} |`,
      );
    lines.push('');
  }
  lines.push(
    '## How to read this',
    '',
    '- **Ceilings** bound every design here: no read through the fleet can beat an HTTP hop plus a Redis GET, no miss can beat a pg SELECT.',
    '- **Closed loop** (fixed callers, each waits for its answer) measures capacity. Its latencies flatter a slow system, because a stalled caller stops sending.',
    '- **Open loop** (fixed offered rate) measures latency as users see it: a stall delays every operation due during it, and each is charged from when it was due.',
    '  When a system cannot sustain the offered rate, achieved ops/s falls below it and the tail grows with the backlog.',
    '- **direct cache-aside** is the design without Keylane (ioredis + pg in the caller, no hop, no consistency); the gap to `cache-aside` through the fleet is the hop, the gap from `cache-aside` to `serial-guarded` is what consistency costs.',
    `- **${EMBEDDED}** is \`@keylane/engine\` inside the caller (no hop, no fleet), holding ${result.config.lanes} Postgres connections where the fleet holds ${result.config.fleetSize} x ${result.config.lanesPerInstance}; the gap to \`direct cache-aside\` is what the guard costs alone, the gap to \`serial-guarded\` through the fleet is the hop. Embedded in N processes it holds N x ${result.config.lanes} connections and single-flights a hot key per process, not per fleet.`,
    '- Ratios are taken within one run, so background load on this shared machine mostly cancels; absolute numbers move with it.',
    '',
  );
  return lines.join('\n');
}

/** CPU per request of the servers and of the caller: the hop ceilings and the read hits. */
function renderCpu(result: BenchResult): string[] {
  // Results written before these figures existed have no `cpu`.
  const cpu = result.summary.cpu as BenchResult['summary']['cpu'] | undefined;
  if (!cpu) return [];
  const ceilings = CEILING_NAMES.filter((n) => cpu.ceilings[n]);
  const hits = result.config.strategies.filter((n) => cpu.readHit[n]);
  if (ceilings.length === 0 && hits.length === 0) return [];
  return [
    '## CPU per request',
    '',
    'CPU µs (user + system) per answered request over the same closed-loop windows as above: of the serving processes, ' +
      'summed over them (`process_cpu_seconds_total` from their `/metrics`: prom-client in the item service, ' +
      'process.cpuUsage() in the hop servers), and of the caller (this process, `process.cpuUsage()`: the SDK or the bare ' +
      'undici Pool, plus the load loop and its histogram, the same in every row).',
    '',
    '| Path | server CPU µs/request | caller CPU µs/request |',
    '| --- | ---: | ---: |',
    ...ceilings.map(
      (n) =>
        `| ${CEILING_LABELS[n]} | ${fmtSpread(cpu.ceilings[n]!.serverUs, 0)} | ${fmtSpread(cpu.ceilings[n]!.clientUs, 0)} |`,
    ),
    ...hits.map(
      (n) =>
        `| read hit via fleet: ${n} | ${fmtSpread(cpu.readHit[n]!.serverUs, 0)} | ${fmtSpread(cpu.readHit[n]!.clientUs, 0)} |`,
    ),
    '',
  ];
}

function renderOverload(result: BenchResult): string[] {
  const o = result.summary.overload;
  if (!o) return [];
  const pct = (v: Spread): string =>
    fmtSpread(
      {
        median: v.median * 100,
        min: v.min * 100,
        max: v.max * 100,
        runs: v.runs.map((x) => x * 100),
      },
      1,
    );
  return [
    '## Overload: a hot key offered twice its capacity',
    '',
    `serial-guarded on a fresh ${result.config.fleetSize}-instance fleet, one key, 50/50 reads and writes. Capacity: ok answers/s of a closed loop ` +
      `of ${result.config.concurrency} callers. Then ${OVERLOAD_FACTOR}x that rate offered open-loop for ${result.config.durationMs} ms, each request ` +
      `with the SDK's deadline (requestTimeoutMs ${o.requestTimeoutMs} ms, sent as x-keylane-deadline). Answered within deadline: ok, ` +
      '`overloaded` or `deadline_exceeded` (the two refusals that say nothing was done) out of all sent.',
    '',
    '| capacity ops/s | offered ops/s | goodput ops/s | goodput / capacity | answered within deadline | p99 of ok ms |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${fmtSpread(o.capacity, 0)} | ${fmtSpread(o.offeredRate, 0)} | ${fmtSpread(o.goodput, 0)} | ${fmtSpread(o.goodputOverCapacity, 2)} | ${pct(o.answeredWithinDeadline)}% | ${fmtSpread(o.p99Ms)} |`,
    '',
    `Over all runs: ${o.outcomes.sent} sent, ${o.outcomes.ok} ok, ${o.outcomes.overloaded} overloaded, ${o.outcomes.deadlineExceeded} deadline_exceeded, ` +
      `${o.outcomes.other} other${o.firstOther ? ` (first: ${o.firstOther})` : ''}.`,
    '',
  ];
}

function renderPeers(result: BenchResult): string[] {
  // Results written before the section existed have no `peers`.
  const peers = result.summary.peers ?? {};
  const systems = PEER_SYSTEMS.filter((p) => peers[p]);
  if (systems.length === 0) return [];
  const c = result.config;
  return [
    `## Peers in ${PEER_PROCESSES} caller processes`,
    '',
    `Each system embedded in ${PEER_PROCESSES} processes at once (forked by the bench, each with its own connections, ${c.lanes} lanes or pg connections each, one Redis prefix), ` +
      `on ${PEER_KEYS} keys drawn Zipfian (exponent ${c.zipfExponent}), ${PEER_READ_SHARE * 100}% reads, no injected delays. ` +
      `Closed loop: ${c.concurrency} callers in all; open loop: ${c.ratePerSec} ops/s offered in all, percentiles over every process's latencies. ` +
      'Stale reads are those of the checked runs above.',
    '',
    '| System | closed-loop ops/s | closed p99 ms | open-loop ops/s | open p50 ms | open p99 ms | failed (all runs) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...systems.map((p) => {
      const x = peers[p]!;
      return `| ${PEER_NAMES[p]} | ${fmtSpread(x.throughput, 0)} | ${fmtSpread(x.p99Ms)} | ${fmtSpread(x.openThroughput, 0)} | ${fmtSpread(x.openP50Ms)} | ${fmtSpread(x.openP99Ms)} | ${x.errors + x.openErrors} |`;
    }),
    '',
  ];
}

/** The short table for the terminal. */
export function renderTerminal(result: BenchResult): string {
  const s = result.summary;
  const systems = systemsOf(result);
  const rows: string[][] = [];
  rows.push([
    'system',
    ...WORKLOAD_NAMES.map((w) => `${w} ops/s`),
    ...WORKLOAD_NAMES.map((w) => `${w} p99 ms`),
  ]);
  for (const n of systems) {
    rows.push([
      n,
      ...WORKLOAD_NAMES.map((w) =>
        s.closed[n]?.[w] ? fmtNumber(s.closed[n][w].throughput.median, 0) : '-',
      ),
      ...WORKLOAD_NAMES.map((w) => (s.open[n]?.[w] ? fmtNumber(s.open[n][w].p99Ms.median) : '-')),
    ]);
  }
  for (const n of CEILING_NAMES) {
    const x = s.ceilings[n];
    if (x)
      rows.push([
        `ceiling ${n}`,
        fmtNumber(x.throughput.median, 0),
        '',
        '',
        fmtNumber(x.p99Ms.median),
        '',
        '',
      ]);
  }
  const out: string[] = [];
  if (rows.length > 1) out.push(table(rows));
  const checked = Object.entries(s.checked);
  if (checked.length > 0) {
    out.push(
      '',
      table([
        ['checked run (injected delays)', 'ops', 'stale reads'],
        ...checked.map(([name, c]) => [
          name,
          fmtNumber(c.ops.median, 0),
          fmtNumber(c.violations.median, 0),
        ]),
      ]),
    );
  }
  for (const r of result.runs) {
    for (const e of r.errors) out.push(`run ${r.run} failed: ${e}`);
    for (const x of r.strategies)
      if (x.error) out.push(`run ${r.run} failed: ${x.strategy}: ${x.error}`);
  }
  out.push('');
  for (const t of s.targets) {
    out.push(
      `${t.met === null ? '  -   ' : t.met ? '  met ' : 'MISSED'}  ${t.statement}: ${fmtTargetValue(t)} (${fmtBound(t)})`,
    );
  }
  return out.join('\n') + '\n';
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  '),
    )
    .join('\n');
}
