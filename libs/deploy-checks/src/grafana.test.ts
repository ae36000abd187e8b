import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardQueries } from './grafana.ts';
import { KEY_SERIES } from './metric-catalog.ts';
import { REPO_ROOT } from './paths.ts';

const path = join(REPO_ROOT, 'deploy/grafana/backbone.json');

// The queries themselves are executed against a real Prometheus in prometheus.int.test.ts.
describe('deploy/grafana/backbone.json', () => {
  it('has a panel over every key series, and queries no backbone series outside the catalog', async () => {
    const queries = await dashboardQueries(path);
    const text = queries.map((query) => query.expr).join('\n');
    for (const series of KEY_SERIES) expect(text).toContain(series.name);
    const known = new Set<string>(KEY_SERIES.map((series) => series.name));
    for (const name of text.match(/backbone_[a-z_]+/g) ?? []) expect(known).toContain(name);
  });

  it('takes its Prometheus from a datasource variable, so it imports into any Grafana', async () => {
    const dashboard = JSON.parse(await readFile(path, 'utf8')) as {
      uid: string;
      templating: { list: { name: string; type: string }[] };
      panels: { datasource: { uid: string } }[];
    };
    expect(dashboard.uid).toBe('backbone-overview');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource' }),
    );
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe('${datasource}');
  });
});
