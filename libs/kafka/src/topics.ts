import { redactText, TOPIC_NAMES, topicName, type TopicName } from '@backbone/config';
import type { AdminPort, TopicConfigEntry } from './port.ts';

/** How a topic should look. */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Topic-level configs (`retention.ms`, `cleanup.policy`, `max.message.bytes`, …) as strings. */
  readonly configs: Readonly<Record<string, string>>;
}

/**
 * What ensureTopics did (or, in a dry run, would do) to one topic:
 * - `created`: it did not exist;
 * - `unchanged`: it matches the spec;
 * - `updated`: configs differed and were altered;
 * - `mismatched`: the partition count or replication factor differs. Reported and left alone:
 *   adding partitions moves keys to other partitions (breaking per-symbol order) and shrinking is
 *   impossible, so that is an operator's decision, never a side effect of provisioning;
 * - `failed`: the broker refused; `reason` says why.
 */
export type TopicAction = 'created' | 'unchanged' | 'updated' | 'mismatched' | 'failed';

export interface ConfigChange {
  readonly name: string;
  /** Current value; `null` when the topic inherits it. */
  readonly from: string | null;
  readonly to: string;
}

export interface TopicReport {
  readonly topic: string;
  readonly action: TopicAction;
  readonly partitions: { readonly expected: number; readonly actual: number | null };
  readonly replicationFactor: { readonly expected: number; readonly actual: number | null };
  /** Configs that differ from the spec (altered unless dry run or mismatched). */
  readonly configChanges: readonly ConfigChange[];
  readonly reason?: string;
}

export interface EnsureTopicsReport {
  /** True when nothing was changed on purpose: the actions say what would happen. */
  readonly dryRun: boolean;
  /** False when any topic is mismatched or failed. */
  readonly ok: boolean;
  readonly topics: readonly TopicReport[];
}

/**
 * The topic specs of the `kafka` config section: each of `kafka.topics` under its cluster name
 * (`kafka.namespace` + the contract name).
 *
 * @example topicSpecsFromConfig(config.kafka) // [{ name: 'market.bars.v1', partitions: 6, … }, …]
 */
export function topicSpecsFromConfig(kafka: {
  readonly namespace: string;
  readonly topics: Readonly<
    Record<
      TopicName,
      { partitions: number; replicationFactor: number; configs: Readonly<Record<string, string | undefined>> }
    >
  >;
}): TopicSpec[] {
  return TOPIC_NAMES.map((name) => {
    const topic = kafka.topics[name];
    return {
      name: topicName(kafka, name),
      partitions: topic.partitions,
      replicationFactor: topic.replicationFactor,
      configs: Object.fromEntries(
        Object.entries(topic.configs).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    };
  });
}

/**
 * Makes the broker's topics match `specs`, idempotently: creates missing topics, alters drifted
 * configs, reports (never changes) partition-count or replication-factor differences. A dry run
 * reads only.
 *
 * @example const report = await ensureTopics(admin, topicSpecsFromConfig(config.kafka), { dryRun: true });
 */
export async function ensureTopics(
  admin: AdminPort,
  specs: readonly TopicSpec[],
  options: { dryRun?: boolean } = {},
): Promise<EnsureTopicsReport> {
  const dryRun = options.dryRun ?? false;
  const existing = new Set(await admin.listTopics());
  const reports: TopicReport[] = [];
  for (const spec of specs) {
    try {
      reports.push(
        existing.has(spec.name)
          ? await reconcileTopic(admin, spec, dryRun)
          : await createTopic(admin, spec, dryRun),
      );
    } catch (error) {
      reports.push({
        ...baseReport(spec, null, null),
        action: 'failed',
        configChanges: [],
        reason: redactText(error instanceof Error ? error.message : String(error)),
      });
    }
  }
  return {
    dryRun,
    ok: reports.every((report) => report.action !== 'mismatched' && report.action !== 'failed'),
    topics: reports,
  };
}

function baseReport(spec: TopicSpec, partitions: number | null, replicationFactor: number | null) {
  return {
    topic: spec.name,
    partitions: { expected: spec.partitions, actual: partitions },
    replicationFactor: { expected: spec.replicationFactor, actual: replicationFactor },
  };
}

async function createTopic(admin: AdminPort, spec: TopicSpec, dryRun: boolean): Promise<TopicReport> {
  const configChanges = Object.entries(spec.configs).map(([name, to]) => ({ name, from: null, to }));
  if (!dryRun) {
    // A concurrent provisioner may win the race; "already exists" then falls through to reconcile.
    const created = await admin.createTopics([spec]);
    if (!created) return reconcileTopic(admin, spec, dryRun);
  }
  return { ...baseReport(spec, null, null), action: 'created', configChanges };
}

async function reconcileTopic(admin: AdminPort, spec: TopicSpec, dryRun: boolean): Promise<TopicReport> {
  const [metadata] = await admin.fetchTopicMetadata([spec.name]);
  const partitions = metadata?.partitions.length ?? 0;
  const replicationFactor = Math.max(
    0,
    ...(metadata?.partitions ?? []).map((partition) => partition.replicas.length),
  );
  const entries = (await admin.describeTopicConfigs([spec.name])).get(spec.name) ?? [];
  const configChanges = configDrift(entries, spec.configs);
  const base = { ...baseReport(spec, partitions, replicationFactor), configChanges };

  if (partitions !== spec.partitions || replicationFactor !== spec.replicationFactor) {
    const differences = [
      partitions === spec.partitions ? null : `partitions ${partitions}, config says ${spec.partitions}`,
      replicationFactor === spec.replicationFactor
        ? null
        : `replication factor ${replicationFactor}, config says ${spec.replicationFactor}`,
    ].filter((difference) => difference !== null);
    return { ...base, action: 'mismatched', reason: `${differences.join('; ')}; left unchanged` };
  }
  if (configChanges.length === 0) return { ...base, action: 'unchanged' };
  if (!dryRun) await admin.replaceTopicConfigs(spec.name, mergedOverrides(entries, spec.configs));
  return { ...base, action: 'updated' };
}

function configDrift(
  entries: readonly TopicConfigEntry[],
  desired: Readonly<Record<string, string>>,
): ConfigChange[] {
  const current = new Map(entries.map((entry) => [entry.name, entry]));
  const changes: ConfigChange[] = [];
  for (const [name, to] of Object.entries(desired)) {
    const entry = current.get(name);
    // Equal to the spec only when set on the topic itself: an inherited broker default that
    // happens to match today would silently change with the broker's config tomorrow.
    if (entry?.isTopicOverride === true && entry.value === to) continue;
    changes.push({ name, from: entry?.value ?? null, to });
  }
  return changes;
}

/**
 * AlterConfigs replaces every topic-level override, so the overrides an operator set outside the
 * spec are carried over; the spec wins on the keys it names.
 */
function mergedOverrides(
  entries: readonly TopicConfigEntry[],
  desired: Readonly<Record<string, string>>,
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const entry of entries) {
    if (entry.isTopicOverride && !entry.isSensitive && entry.value !== null) merged[entry.name] = entry.value;
  }
  return { ...merged, ...desired };
}
