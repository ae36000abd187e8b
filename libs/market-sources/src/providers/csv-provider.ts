import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import type {
  BarRequest,
  MarketDataProvider,
  SourceRejection,
  SourceRejectionReason,
  UnvalidatedBar,
  UnvalidatedBarBatch,
} from '../types.ts';
import { escapeControlCharacters, hasControlCharacter } from '../text/control-characters.ts';
import { parseIsoInstant } from '../time/iso-instant.ts';
import { CsvFormatError } from './csv-format-error.ts';

/** The columns a bar CSV carries, in any order; the header line names them. */
export const CSV_BAR_COLUMNS = [
  'symbol',
  'timeframe',
  'ts',
  'open',
  'high',
  'low',
  'close',
  'volume',
] as const;

type Column = (typeof CSV_BAR_COLUMNS)[number];

export interface CsvReadOptions {
  /** Rows per yielded batch; memory stays bounded by one batch whatever the file size. Default 5,000. */
  batchSize?: number;
  signal?: AbortSignal;
}

const SOURCE = 'csv';
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const MAX_DETAIL = 120;

/**
 * Streams a bar CSV (`symbol,timeframe,ts,open,high,low,close,volume`, header first) as batches of
 * unvalidated rows. Each physical line is one record: quote characters are not interpreted across
 * lines (a field wrapped in double quotes is unwrapped), so a stray quote can never swallow the
 * rows after it. A line with the wrong column count, a control character (NUL, a bare CR, …), an
 * unparsable number or timestamp, a date or time that does not exist (`2024-02-30`, `24:00`: never
 * rolled over to another day) or a missing field becomes a counted rejection with its line number
 * (control characters escaped in its detail); blank lines are skipped.
 *
 * @example for await (const batch of readCsvBars('fixtures/bars/EURUSD-1d.csv')) console.log(batch.rows.length)
 */
export async function* readCsvBars(
  file: string,
  options: CsvReadOptions = {},
): AsyncGenerator<UnvalidatedBarBatch> {
  const batchSize = options.batchSize ?? 5000;
  const location = basename(file);
  const parser = parse({
    quote: false,
    trim: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    info: true,
    raw: true,
  });
  // pipeline (not pipe) so that a read error (missing file, abort) reaches the parser's iterator,
  // and an early `break` by the consumer closes the file.
  pipeline(
    createReadStream(file, options.signal === undefined ? {} : { signal: options.signal }),
    parser,
    () => {
      // Errors surface through the parser's async iterator below.
    },
  );
  let rows: UnvalidatedBar[] = [];
  let rejections: SourceRejection[] = [];
  let columns: Map<Column, number> | undefined;
  try {
    for await (const entry of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
      raw: string;
    }>) {
      const fields = entry.record.map(unquote);
      const line = entry.info.lines;
      if (columns === undefined) {
        columns = readHeader(file, fields);
        continue;
      }
      const reject = (reason: SourceRejectionReason, detail: string): void => {
        rejections.push({
          source: SOURCE,
          location: `${location}:${line}`,
          line,
          reason,
          detail: escapeControlCharacters(`${detail}: ${entry.raw.trim().slice(0, MAX_DETAIL)}`),
        });
      };
      const result = toBar(fields, columns);
      if ('reason' in result) reject(result.reason, result.detail);
      else rows.push(result);
      if (rows.length >= batchSize) {
        yield { source: SOURCE, rows, rejections };
        rows = [];
        rejections = [];
      }
    }
  } catch (error) {
    if (error instanceof CsvFormatError) throw error;
    if ((error as { name?: string }).name === 'AbortError') throw error;
    throw new CsvFormatError(file, `cannot read: ${(error as Error).message}`, { cause: error });
  }
  if (columns === undefined) throw new CsvFormatError(file, 'empty file: no header line');
  if (rows.length > 0 || rejections.length > 0) yield { source: SOURCE, rows, rejections };
}

/**
 * The `csv` provider over a fixed list of files: yields the rows matching the request's symbols
 * (all when empty), timeframe and [from, to] window.
 *
 * @example const csv = createCsvProvider({ files: ['fixtures/bars/EURUSD-1d.csv'] })
 */
export function createCsvProvider(options: {
  files: readonly string[];
  batchSize?: number;
}): MarketDataProvider {
  return {
    name: SOURCE,
    async *fetchBars(request: BarRequest, signal?: AbortSignal): AsyncGenerator<UnvalidatedBarBatch> {
      const symbols = new Set(request.symbols.map((s) => s.toUpperCase()));
      const from = request.from.getTime();
      const to = request.to?.getTime() ?? Number.POSITIVE_INFINITY;
      for (const file of options.files) {
        const readOptions = {
          ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
          ...(signal === undefined ? {} : { signal }),
        };
        for await (const batch of readCsvBars(file, readOptions)) {
          const rows = batch.rows.filter((row) => {
            // readCsvBars wrote `ts` from a checked instant: Date.parse reads it back exactly.
            const ts = Date.parse(row.ts);
            return (
              (symbols.size === 0 || symbols.has(row.symbol.toUpperCase())) &&
              row.timeframe === request.timeframe &&
              ts >= from &&
              ts <= to
            );
          });
          // Rejections are always reported: a malformed line cannot say which request it belonged to.
          if (rows.length > 0 || batch.rejections.length > 0) yield { ...batch, rows };
        }
      }
    },
  };
}

function readHeader(file: string, fields: readonly string[]): Map<Column, number> {
  const names = fields.map((f) => f.toLowerCase().replace(/^\uFEFF/, ''));
  const columns = new Map<Column, number>();
  for (const column of CSV_BAR_COLUMNS) {
    const index = names.indexOf(column);
    if (index === -1) {
      throw new CsvFormatError(
        file,
        `header must name the columns ${CSV_BAR_COLUMNS.join(',')}; got "${fields.join(',').slice(0, MAX_DETAIL)}" (missing "${column}")`,
      );
    }
    columns.set(column, index);
  }
  if (names.length !== CSV_BAR_COLUMNS.length) {
    throw new CsvFormatError(file, `header has ${names.length} columns, expected ${CSV_BAR_COLUMNS.length}`);
  }
  return columns;
}

interface LineProblem {
  reason: SourceRejectionReason;
  detail: string;
}

/** The row, or why the line cannot become one. */
function toBar(fields: readonly string[], columns: Map<Column, number>): UnvalidatedBar | LineProblem {
  // First: a bare CR runs two lines together, so such a line is about control characters, not its column count.
  const controlled = fields.findIndex(hasControlCharacter);
  if (controlled !== -1) {
    const name = [...columns].find(([, index]) => index === controlled)?.[0];
    return {
      reason: 'control_character',
      detail: `${fields.length === CSV_BAR_COLUMNS.length && name !== undefined ? name : `field ${controlled + 1}`} contains a control character`,
    };
  }
  if (fields.length !== CSV_BAR_COLUMNS.length) {
    return {
      reason: 'column_count',
      detail: `expected ${CSV_BAR_COLUMNS.length} columns, got ${fields.length}`,
    };
  }
  const field = (column: Column): string => fields[columns.get(column) ?? -1] ?? '';
  for (const column of ['symbol', 'timeframe', 'ts', 'open', 'high', 'low', 'close'] as const) {
    if (field(column) === '') return { reason: 'missing_field', detail: `${column} is empty` };
  }
  const ts = field('ts');
  const instant = parseIsoInstant(ts);
  if (!instant.ok) {
    return {
      reason: instant.kind === 'impossible' ? 'impossible_timestamp' : 'unparsable_timestamp',
      detail: `ts "${ts.slice(0, 40)}" ${instant.message}`,
    };
  }
  const numbers: Partial<Record<Column, number | null>> = {};
  for (const column of ['open', 'high', 'low', 'close', 'volume'] as const) {
    const text = field(column);
    if (column === 'volume' && text === '') {
      numbers[column] = null;
      continue;
    }
    if (!DECIMAL.test(text))
      return { reason: 'unparsable_number', detail: `${column} "${text.slice(0, 40)}" is not a number` };
    numbers[column] = Number(text);
  }
  return {
    symbol: field('symbol'),
    timeframe: field('timeframe'),
    ts: new Date(instant.ms).toISOString().replace('.000Z', 'Z'),
    open: numbers.open ?? null,
    high: numbers.high ?? null,
    low: numbers.low ?? null,
    close: numbers.close ?? null,
    volume: numbers.volume ?? null,
    source: SOURCE,
  };
}

function unquote(field: string): string {
  return field.length >= 2 && field.startsWith('"') && field.endsWith('"')
    ? field.slice(1, -1).trim()
    : field;
}
