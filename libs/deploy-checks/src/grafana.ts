import { readFile } from 'node:fs/promises';

/** One query of a dashboard panel. */
export interface DashboardQuery {
  panel: string;
  expr: string;
}

/**
 * The PromQL expressions of a Grafana dashboard JSON, one per panel target.
 *
 * @example const queries = await dashboardQueries('deploy/grafana/backbone.json');
 */
export async function dashboardQueries(path: string): Promise<DashboardQuery[]> {
  const dashboard = JSON.parse(await readFile(path, 'utf8')) as {
    panels: { title: string; targets?: { expr?: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) =>
      target.expr === undefined ? [] : [{ panel: panel.title, expr: target.expr }],
    ),
  );
}
