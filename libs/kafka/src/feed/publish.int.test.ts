import { decodeBarMessage } from '@backbone/contracts';
import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, createKafkaFixture, type KafkaFixture } from '../test-support/kafka-fixture.ts';
import { createBarFeed, defaultFeedStart } from './generate.ts';
import { publishFeed, type FeedProgress } from './publish.ts';

let kafka: KafkaFixture;
beforeAll(async () => {
  kafka = await createKafkaFixture();
});
afterAll(async () => {
  await kafka.dispose();
});

describe('publishFeed', () => {
  it('produces exactly rate × duration valid bars, keyed by symbol, ts strictly increasing per symbol', async () => {
    const topic = await kafka.topic('feed', 3);
    const symbols = ['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD'];
    const rate = 400;
    const durationSeconds = 1.5;
    const totalBars = rate * durationSeconds;
    const feed = createBarFeed({
      symbols,
      timeframe: '1m',
      seed: 11,
      start: defaultFeedStart(new Date(), '1m', totalBars, symbols.length),
    });
    const progress: FeedProgress[] = [];
    const summary = await publishFeed({
      producer: kafka.producer,
      topic,
      feed,
      totalBars,
      ratePerSecond: rate,
      maxBatchSize: 50,
      progressIntervalMs: 200,
      onProgress: (p) => progress.push(p),
    });
    expect(summary.produced).toBe(totalBars);
    // Paced: the last bar is due at (total − 1) / rate seconds, so the run cannot be shorter.
    expect(summary.durationSeconds).toBeGreaterThanOrEqual((totalBars - 1) / rate);
    expect(progress.at(-1)?.produced).toBe(totalBars);

    const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
    await waitFor(() => consumed.messages.length >= totalBars, {
      timeoutMs: 20_000,
      description: `${totalBars} bars`,
    });
    expect(consumed.messages).toHaveLength(totalBars);

    const lastTs = new Map<string, number>();
    const problems: string[] = [];
    for (const message of consumed.messages) {
      const parsed = decodeBarMessage(message.value);
      if (!parsed.ok) {
        problems.push(`${message.offset}: ${parsed.reason}`);
        continue;
      }
      const { bar } = parsed;
      if (message.key?.toString() !== bar.symbol)
        problems.push(`${message.offset}: key ${message.key?.toString()}`);
      const ts = Date.parse(bar.ts);
      if (ts <= (lastTs.get(bar.symbol) ?? -Infinity))
        problems.push(`${bar.symbol} ts ${bar.ts} not increasing`);
      lastTs.set(bar.symbol, ts);
    }
    expect(problems).toEqual([]);
    expect([...lastTs.keys()].sort()).toEqual([...symbols].sort());
    expect(
      Object.fromEntries(
        [...lastTs].map(([symbol, ts]) => [symbol, new Date(ts).toISOString().replace('.000Z', 'Z')]),
      ),
    ).toEqual(summary.lastTsBySymbol);
  });

  it('stops at an abort and counts only what the broker acknowledged', async () => {
    const topic = await kafka.topic('feed_abort', 1);
    const controller = new AbortController();
    const feed = createBarFeed({
      symbols: ['EURUSD'],
      timeframe: '1m',
      seed: 1,
      start: new Date('2026-01-05T00:00:00Z'),
    });
    const summary = await publishFeed({
      producer: kafka.producer,
      topic,
      feed,
      totalBars: 1_000_000,
      ratePerSecond: 100,
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.produced >= 20) controller.abort();
      },
    });
    expect(summary.produced).toBeGreaterThanOrEqual(20);
    expect(summary.produced).toBeLessThan(1_000_000);
    const [offsets] = await kafka.admin.fetchTopicOffsets(topic);
    expect(offsets?.high).toBe(BigInt(summary.produced));
  });
});
