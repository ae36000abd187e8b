/**
 * Why `./backbone stack up` could not bring a service up. Every message names what is missing or
 * in the way and how to fix it, so the operator does not have to read a stack trace.
 */
export class StackError extends Error {
  override readonly name: string = 'StackError';
  /** The service the failure belongs to. */
  readonly service: 'timescaledb' | 'postgres' | 'redis' | 'kafka' | 'docker' | 'ha';

  constructor(service: StackError['service'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.service = service;
  }
}

/** Programs or files the stack needs (java, mvn, redis-server, cmake, server headers …) are not installed. */
export class MissingToolError extends StackError {
  override readonly name = 'MissingToolError';
  /** What is missing, several joined with `, `. */
  readonly tool: string;
  readonly install: string;

  /** @param tool what is missing: one name, or several (the message then says "are needed"). */
  constructor(
    service: StackError['service'],
    tool: string | readonly string[],
    install: string,
    options?: ErrorOptions,
  ) {
    const tools = typeof tool === 'string' ? [tool] : tool;
    const what = tools.join(', ');
    super(
      service,
      tools.length > 1
        ? `${what} are needed for ${service} but were not found; install them with: ${install}`
        : `${what} is needed for ${service} but was not found; install it with: ${install}`,
      options,
    );
    this.tool = what;
    this.install = install;
  }
}

/** Something already listens on a port the stack needs, and it is not the service expected there. */
export class PortInUseError extends StackError {
  override readonly name = 'PortInUseError';
  readonly port: number;
  /** The listening process when /proc tells us (Linux, same user or root). */
  readonly holder: ListeningProcess | undefined;

  /** @param reason why the port must be free, e.g. "it does not answer as Kafka". */
  constructor(
    service: StackError['service'],
    port: number,
    holder: ListeningProcess | undefined,
    reason: string,
  ) {
    const who = holder ? `pid ${holder.pid} (${holder.command})` : 'a process this user cannot identify';
    super(
      service,
      `port ${port} is taken by ${who}, and ${reason}; stop that process or configure another port for ${service}`,
    );
    this.port = port;
    this.holder = holder;
  }
}

/** A service did not come up (refused, crashed, or did not answer within the start timeout). */
export class ServiceStartError extends StackError {
  override readonly name = 'ServiceStartError';
}

/** A process listening on a TCP port, as found in /proc. */
export interface ListeningProcess {
  pid: number;
  /** The command line, truncated to keep messages readable. */
  command: string;
}
