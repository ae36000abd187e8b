import type { BarRequest, MarketDataProvider } from '../types.ts';

/**
 * The names of the sources a failover or merge combines, after checking there are at least two
 * and none twice: combining a source with itself is what the predecessor did (Yahoo to Yahoo).
 *
 * @example distinctSourceNames([yahoo, csv], 'failover') // ['yahoo', 'csv']
 */
export function distinctSourceNames(
  sources: readonly MarketDataProvider[],
  combination: 'failover' | 'merge',
): string[] {
  const names = sources.map((s) => s.name);
  if (sources.length < 2)
    throw new RangeError(`${combination} needs at least two sources, got ${names.join(',') || 'none'}`);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined)
    throw new RangeError(`${combination} sources must differ; "${duplicate}" is listed twice`);
  return names;
}

/**
 * The request split into the units a combination answers one by one: each symbol alone, or the
 * whole request when it names none (a csv file's every symbol).
 */
export function perSymbol(request: BarRequest): (readonly string[])[] {
  return request.symbols.length === 0 ? [request.symbols] : request.symbols.map((symbol) => [symbol]);
}
