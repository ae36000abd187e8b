import { context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-node';

/** A tracer whose finished spans land in memory, plus the context manager spans need. */
export interface InMemoryTracing {
  tracer: Tracer;
  finishedSpans(): ReadableSpan[];
  /** The one finished span called `name`; throws when there is none or more than one. */
  span(name: string): ReadableSpan;
  stop(): Promise<void>;
}

/**
 * Sets up tracing explicitly for one test file: a provider with a SimpleSpanProcessor into an
 * InMemorySpanExporter, and AsyncLocalStorage as the global context manager (context propagation
 * through `context.with` needs a global one). The tracer provider itself is not registered
 * globally; tests hand `tracer` to the helpers.
 */
export function startInMemoryTracing(): InMemoryTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  return {
    tracer: provider.getTracer('telemetry-test'),
    finishedSpans: () => exporter.getFinishedSpans(),
    span(name) {
      const matches = exporter.getFinishedSpans().filter((span) => span.name === name);
      if (matches.length !== 1) throw new Error(`expected one span "${name}", found ${matches.length}`);
      return matches[0] as ReadableSpan;
    },
    async stop() {
      await provider.shutdown();
      context.disable();
    },
  };
}
