import { MissingToolError, type StackError } from './errors.ts';
import { CommandFailedError, run } from './process.ts';

/** True when this process runs as root, i.e. may install packages and act as the postgres user. */
export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Installs Debian packages the stack needs: with apt-get when running as root (an `apt-get update`
 * first when the package lists do not know a package yet, as on a fresh container), otherwise a
 * {@link MissingToolError} naming what is missing and the `sudo apt-get install` line.
 *
 * @param what what the packages provide, for the message, e.g. `cmake` or `PostgreSQL (pg_lsclusters)`.
 * @example await aptInstall('timescaledb', ['cmake', 'build-essential'], ['cmake', 'a C compiler (cc)'], log);
 */
export async function aptInstall(
  service: StackError['service'],
  packages: readonly string[],
  what: string | readonly string[],
  log: (message: string) => void,
): Promise<void> {
  const line = `apt-get install -y ${packages.join(' ')}`;
  if (!isRoot()) throw new MissingToolError(service, what, `sudo ${line}`);
  log(`${typeof what === 'string' ? what : what.join(', ')} missing: ${line}`);
  const install = (): Promise<unknown> =>
    run('env', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-q', ...packages], {
      timeoutMs: 900_000,
    });
  try {
    await install();
  } catch (error) {
    if (!(error instanceof CommandFailedError && /Unable to locate package/.test(error.stderr))) throw error;
    log('apt-get update (the package lists do not know the package yet)');
    await run('apt-get', ['update', '-q'], { timeoutMs: 600_000 });
    await install();
  }
}

/**
 * The version apt would install for `pkg`, or undefined when no configured repository has it
 * (`apt-cache policy` prints `Candidate: (none)` or nothing at all).
 */
export async function aptCandidate(pkg: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('apt-cache', ['policy', pkg], { timeoutMs: 60_000 });
    const candidate = /^\s*Candidate:\s*(\S+)/m.exec(stdout)?.[1];
    return candidate === undefined || candidate === '(none)' ? undefined : candidate;
  } catch {
    // No apt (not Debian): no package to install either.
    return undefined;
  }
}
