import { z } from 'zod';
import { createHttpClient, type HttpClientOptions } from '../http/http-client.ts';
import { escapeControlCharacters } from '../text/control-characters.ts';
import { parseIsoInstant } from '../time/iso-instant.ts';
import type {
  MacroEventProvider,
  MacroRequest,
  SourceRejection,
  UnvalidatedMacroEvent,
  UnvalidatedMacroEventBatch,
} from '../types.ts';

const SOURCE = 'fred';
const PAGE_LIMIT = 1000;

/**
 * `fred/releases/dates`: release calendar entries, paginated by limit/offset. Dates are read as
 * text here and checked one entry at a time (strict ISO reader): an impossible date rejects
 * that entry, not the page.
 */
export const fredReleaseDatesSchema = z.object({
  count: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  release_dates: z.array(
    z.object({
      release_id: z.number().int(),
      release_name: z.string().optional(),
      date: z.string(),
    }),
  ),
});

/** `fred/series/observations`: values are strings, "." for a missing value; dates checked per observation. */
export const fredObservationsSchema = z.object({
  count: z.number().int().nonnegative(),
  observations: z.array(
    z.object({
      realtime_start: z.string(),
      realtime_end: z.string(),
      date: z.string(),
      value: z.string(),
    }),
  ),
});

/** A FRED series tracked on the macro calendar. */
export interface FredSeriesSpec {
  /** e.g. `PAYEMS` */
  seriesId: string;
  /** The release that publishes it, e.g. 50 (Employment Situation). */
  releaseId: number;
  /** Event name, e.g. `Nonfarm Payrolls`. */
  name: string;
  importance: 'low' | 'medium' | 'high';
  /** Release time of day in UTC (`HH:MM`); FRED gives dates only. Default `00:00`. */
  releaseTimeUtc?: string;
}

export interface FredProviderOptions {
  /** e.g. `https://api.stlouisfed.org` */
  baseUrl: string;
  /** From config; sent as the `api_key` query parameter and redacted from every error and event. */
  apiKey: string;
  series: readonly FredSeriesSpec[];
  /** The calendar the events belong to (macro event contract: `^[a-z0-9_.-]+$`). Default `us`. */
  calendar?: string;
  /** Timeouts, retries, rate limit (default 500 ms between requests: FRED allows 120 per minute). */
  http?: Omit<HttpClientOptions, 'provider' | 'baseUrl' | 'extractApiError'>;
  now?: () => Date;
}

/**
 * The `fred` macro provider: the release calendar from the documented `fred/releases/dates`
 * endpoint, and for every tracked series on a past release date its value as first published
 * that day (`fred/series/observations` with the real-time period pinned to the release date):
 * `actual` is the newest observation of that vintage, `previous` the one before. Future release
 * dates become events with `actual: null`; a later run fills them in under the same `eventId`
 * (`<SERIES>@<release date>`). A release entry or observation with a date that does not exist
 * (`2027-02-30`) is a counted rejection (`impossible_timestamp`) of that event; the rest of the
 * page is kept.
 *
 * @example createFredProvider({ baseUrl, apiKey, series: [{ seriesId: 'PAYEMS', releaseId: 50, name: 'Nonfarm Payrolls', importance: 'high' }] })
 */
export function createFredProvider(options: FredProviderOptions): MacroEventProvider {
  const http = createHttpClient({
    minIntervalMs: 500,
    ...options.http,
    provider: SOURCE,
    baseUrl: options.baseUrl,
    extractApiError: fredError,
  });
  const now = options.now ?? (() => new Date());
  const byRelease = new Map<number, FredSeriesSpec[]>();
  for (const spec of options.series) {
    byRelease.set(spec.releaseId, [...(byRelease.get(spec.releaseId) ?? []), spec]);
  }
  const withKey = (params: Record<string, string>): string =>
    new URLSearchParams({ ...params, api_key: options.apiKey, file_type: 'json' }).toString();

  return {
    name: SOURCE,
    async *fetchEvents(
      request: MacroRequest,
      signal?: AbortSignal,
    ): AsyncGenerator<UnvalidatedMacroEventBatch> {
      const from = isoDate(request.from);
      const to = isoDate(request.to);
      if (from > to) throw new RangeError(`fred: reversed window ${from} .. ${to}`);
      const today = isoDate(now());
      for (let offset = 0; ; offset += PAGE_LIMIT) {
        const page = await http.getJson(
          `fred/releases/dates?${withKey({
            realtime_start: from,
            realtime_end: to,
            include_release_dates_with_no_data: 'true',
            order_by: 'release_date',
            sort_order: 'asc',
            limit: String(PAGE_LIMIT),
            offset: String(offset),
          })}`,
          fredReleaseDatesSchema,
          signal,
        );
        const events: UnvalidatedMacroEvent[] = [];
        const rejections: SourceRejection[] = [];
        for (const [index, release] of page.release_dates.entries()) {
          const specs = byRelease.get(release.release_id) ?? [];
          const problem = dateProblem(release.date);
          if (problem !== undefined && specs.length > 0) {
            rejections.push({
              source: SOURCE,
              location: `fred releases/dates[${offset + index}] release ${release.release_id}`,
              ...problem,
            });
            continue;
          }
          for (const spec of specs) {
            const outcome = await releaseEvent(spec, release.date);
            if (outcome === undefined) continue;
            if ('reason' in outcome) rejections.push(outcome);
            else events.push(outcome);
          }
        }
        if (events.length > 0 || rejections.length > 0) yield { source: SOURCE, events, rejections };
        if (offset + page.release_dates.length >= page.count || page.release_dates.length === 0) break;
      }

      async function releaseEvent(
        spec: FredSeriesSpec,
        date: string,
      ): Promise<UnvalidatedMacroEvent | SourceRejection | undefined> {
        const event: UnvalidatedMacroEvent = {
          source: SOURCE,
          eventId: `${spec.seriesId}@${date}`,
          ts: `${date}T${spec.releaseTimeUtc ?? '00:00'}:00Z`,
          name: spec.name,
          calendar: options.calendar ?? 'us',
          currency: 'USD',
          actual: null,
          forecast: null,
          previous: null,
          importance: spec.importance,
          // Values fetched as of their release date are first releases.
          revision: 0,
        };
        if (date > today) return event;
        const { observations } = await http.getJson(
          `fred/series/observations?${withKey({
            series_id: spec.seriesId,
            realtime_start: date,
            realtime_end: date,
            sort_order: 'desc',
            limit: '2',
          })}`,
          fredObservationsSchema,
          signal,
        );
        const [latest, before] = observations;
        for (const [index, observation] of [latest, before].entries()) {
          if (observation === undefined) continue;
          for (const field of ['realtime_start', 'realtime_end', 'date'] as const) {
            const problem = dateProblem(observation[field]);
            if (problem !== undefined) {
              return {
                source: SOURCE,
                location: `fred ${spec.seriesId}@${date} observation ${index}`,
                reason: problem.reason,
                detail: `${field} ${problem.detail}`,
              };
            }
          }
        }
        // A release publishes many series; this one was not updated on this date when its newest
        // value was already known before. Its own release date carries it.
        if (latest === undefined || latest.realtime_start !== date) return undefined;
        return {
          ...event,
          actual: fredValue(latest.value),
          previous: before === undefined ? null : fredValue(before.value),
        };
      }
    },
  };
}

function fredError(body: unknown): string | undefined {
  const parsed = z.object({ error_code: z.number(), error_message: z.string() }).safeParse(body);
  return parsed.success ? `${parsed.data.error_code}: ${parsed.data.error_message}` : undefined;
}

/** FRED writes a missing value as "."; anything else unparsable stays visible as NaN for validation to reject. */
function fredValue(value: string): number | null {
  return value === '.' ? null : Number(value);
}

/** Why `text` is not a real `YYYY-MM-DD` date, or undefined when it is one. */
function dateProblem(text: string): Pick<SourceRejection, 'reason' | 'detail'> | undefined {
  const parsed = parseIsoInstant(text);
  if (parsed.ok && parsed.dateOnly) return undefined;
  const shown = escapeControlCharacters(text.slice(0, 40));
  return parsed.ok || parsed.kind === 'unparsable'
    ? { reason: 'unparsable_timestamp', detail: `"${shown}" is not a date (YYYY-MM-DD)` }
    : { reason: 'impossible_timestamp', detail: `"${shown}": ${parsed.message}` };
}

function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}
