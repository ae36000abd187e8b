import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { aptCandidate, aptInstall } from './apt.ts';
import { MissingToolError, ServiceStartError } from './errors.ts';
import { CommandFailedError, isInstalled, run, runLogged } from './process.ts';

// Installs the TimescaleDB extension for a PostgreSQL server's binaries when it is missing: from
// Timescale's Debian package when apt has one for that major version, otherwise by building the
// release tarball (with the patches next to it) once, in a cached build directory.

/** Where one PostgreSQL installation keeps extensions, from its `pg_config`. */
export interface PgConfigPaths {
  /** e.g. `15`. */
  major: string;
  /** `--sharedir`: `<sharedir>/extension/*.control`. */
  sharedir: string;
  /** `--pkglibdir`: the shared libraries. */
  pkglibdir: string;
  /** `--includedir-server`: `postgres.h`, from postgresql-server-dev-<major>. */
  includedirServer: string;
}

export async function pgConfigPaths(pgConfig: string): Promise<PgConfigPaths> {
  let stdout: string;
  try {
    ({ stdout } = await run(pgConfig, ['--version', '--sharedir', '--pkglibdir', '--includedir-server']));
  } catch (error) {
    if (error instanceof CommandFailedError && error.code === 'ENOENT') {
      throw new MissingToolError(
        'timescaledb',
        `pg_config (${pgConfig})`,
        'sudo apt-get install -y postgresql',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const [version = '', sharedir = '', pkglibdir = '', includedirServer = ''] = stdout.trim().split('\n');
  const major = /^PostgreSQL (\d+)/.exec(version)?.[1];
  if (!major) throw new ServiceStartError('timescaledb', `${pgConfig} --version printed "${version}"`);
  return { major, sharedir, pkglibdir, includedirServer };
}

/** What {@link findTimescaledb} found. */
export interface TimescaledbInstallation {
  /** The control file and the loader library both exist. */
  installed: boolean;
  /** `default_version` of the control file, when it exists. */
  version: string | undefined;
  controlFile: string;
  loaderLibrary: string;
}

/**
 * Whether the timescaledb extension is installed for these server binaries:
 * `<sharedir>/extension/timescaledb.control` and `<pkglibdir>/timescaledb.so`, under `destDir`
 * when given (an install staged with `make install DESTDIR=…`).
 *
 * @example (await findTimescaledb('/usr/lib/postgresql/15/bin/pg_config')).installed
 */
export async function findTimescaledb(pgConfig: string, destDir = ''): Promise<TimescaledbInstallation> {
  const paths = await pgConfigPaths(pgConfig);
  const controlFile = join(destDir || '/', paths.sharedir, 'extension', 'timescaledb.control');
  const loaderLibrary = join(destDir || '/', paths.pkglibdir, 'timescaledb.so');
  const control = await readFile(controlFile, 'utf8').catch(() => undefined);
  const version = control === undefined ? undefined : /^default_version\s*=\s*'([^']+)'/m.exec(control)?.[1];
  return {
    installed: control !== undefined && (await canRead(loaderLibrary)),
    version,
    controlFile,
    loaderLibrary,
  };
}

export interface TimescaledbInstallOptions {
  /** `pg_config` of the server binaries the extension is for. */
  pgConfig: string;
  /** The release tarball to build when no package is available; `<stem>-*.patch` next to it are applied. */
  source: string;
  /** Build directories live under `<cacheDir>/timescaledb/build/`. */
  cacheDir: string;
  /** The cmake program (overridable so a test can point at a missing or failing one). */
  cmake: string;
  /**
   * Stage the install under this directory (`make install DESTDIR=…`) instead of the server's own
   * directories; apt packages are not considered then. For tests and for checking a build.
   */
  destDir?: string;
  /**
   * Install missing build tools with apt-get when running as root (default true). False makes a
   * missing tool an error naming the apt-get line even as root.
   */
  installMissingPackages?: boolean;
  log: (message: string) => void;
}

/** How {@link ensureTimescaledbInstalled} got the extension in place. */
export type TimescaledbInstallResult =
  | { how: 'already-installed'; version: string | undefined }
  | { how: 'package'; version: string | undefined; package: string }
  | { how: 'built'; version: string; buildDir: string; seconds: number };

/** Timescale's Debian package name for a PostgreSQL major version. */
export const timescaledbPackage = (major: string): string => `timescaledb-2-postgresql-${major}`;

/**
 * Makes sure the timescaledb extension is installed for the server binaries behind `pgConfig`:
 * nothing when it is; Timescale's package when apt has one for this major version; otherwise a
 * build of `source` (see {@link buildTimescaledb}).
 */
export async function ensureTimescaledbInstalled(
  options: TimescaledbInstallOptions,
): Promise<TimescaledbInstallResult> {
  const { pgConfig, destDir, log } = options;
  const found = await findTimescaledb(pgConfig, destDir);
  if (found.installed) return { how: 'already-installed', version: found.version };
  const paths = await pgConfigPaths(pgConfig);
  if (destDir === undefined) {
    const pkg = timescaledbPackage(paths.major);
    if (await aptCandidate(pkg)) {
      await aptInstall('timescaledb', [pkg], `TimescaleDB for PostgreSQL ${paths.major} (${pkg})`, log);
      const installed = await findTimescaledb(pgConfig);
      if (!installed.installed) {
        throw new ServiceStartError(
          'timescaledb',
          `apt-get installed ${pkg} but ${installed.controlFile} or ${installed.loaderLibrary} is still missing`,
        );
      }
      return { how: 'package', version: installed.version, package: pkg };
    }
    await requireWritable(paths);
  }
  return buildTimescaledb(options, paths);
}

/** Installing into the server's directories needs root (or their owner): say so before a 3-minute build. */
async function requireWritable(paths: PgConfigPaths): Promise<void> {
  const blocked: string[] = [];
  for (const dir of [paths.pkglibdir, join(paths.sharedir, 'extension')]) {
    try {
      await access(dir, constants.W_OK);
    } catch {
      blocked.push(dir);
    }
  }
  if (blocked.length > 0) {
    throw new ServiceStartError(
      'timescaledb',
      `TimescaleDB is not installed for PostgreSQL ${paths.major}, and installing it writes to ${blocked.join(' and ')}, ` +
        `which this user may not: run \`sudo ./backbone stack up\` once (it builds and installs it), or install ${timescaledbPackage(paths.major)}`,
    );
  }
}

/** The patches applied to a tarball: `<stem>-*.patch` in its folder, in name order. */
export async function sourcePatches(source: string): Promise<string[]> {
  const stem = tarballStem(source);
  const entries = await readdir(dirname(source)).catch(() => []);
  return entries
    .filter((entry) => entry.startsWith(`${stem}-`) && entry.endsWith('.patch'))
    .sort()
    .map((entry) => join(dirname(source), entry));
}

function tarballStem(source: string): string {
  return basename(source).replace(/\.(tar\.gz|tgz)$/, '');
}

/** The cmake flags of the vendor README (`./bootstrap …`): no regression-test targets, warnings not fatal. */
export const timescaledbCmakeFlags = [
  '-DREGRESS_CHECKS=OFF',
  '-DWARNINGS_AS_ERRORS=OFF',
  '-DCMAKE_BUILD_TYPE=Release',
] as const;

/** What a build needs that may be missing, each with the Debian package that provides it. */
async function missingBuildTools(
  options: TimescaledbInstallOptions,
  paths: PgConfigPaths,
  patches: readonly string[],
): Promise<{ what: string; pkg: string }[]> {
  const missing: { what: string; pkg: string }[] = [];
  if (!(await isInstalled(options.cmake))) missing.push({ what: `cmake (${options.cmake})`, pkg: 'cmake' });
  if (!(await isInstalled('cc'))) missing.push({ what: 'a C compiler (cc)', pkg: 'build-essential' });
  if (!(await isInstalled('make'))) missing.push({ what: 'make', pkg: 'build-essential' });
  if (patches.length > 0 && !(await isInstalled('patch'))) missing.push({ what: 'patch', pkg: 'patch' });
  if (!(await canRead(join(paths.includedirServer, 'postgres.h')))) {
    missing.push({
      what: `the PostgreSQL ${paths.major} server headers (${paths.includedirServer}/postgres.h)`,
      pkg: `postgresql-server-dev-${paths.major}`,
    });
  }
  // TimescaleDB links OpenSSL (as the server does) and cmake stops without its headers.
  if (!(await canRead('/usr/include/openssl/ssl.h'))) {
    missing.push({ what: 'the OpenSSL headers (openssl/ssl.h)', pkg: 'libssl-dev' });
  }
  return missing;
}

/**
 * Builds the TimescaleDB release tarball `options.source` with its patches and installs it:
 * extract + patch, `cmake` with {@link timescaledbCmakeFlags}, `make -j<cores>`, `make install`
 * (with `DESTDIR` when `options.destDir` is set). Each step's output goes to `build.log` in
 * `<cacheDir>/timescaledb/build/<stem>/`, and finished steps are remembered there (keyed by the
 * sha256 of the tarball and the patches), so an interrupted build resumes and a finished one
 * only runs `make install` again. Missing tools are installed with apt-get as root, and named
 * with the apt-get line otherwise.
 */
export async function buildTimescaledb(
  options: TimescaledbInstallOptions,
  paths: PgConfigPaths,
): Promise<TimescaledbInstallResult & { how: 'built' }> {
  const { source, log } = options;
  if (!(await canRead(source))) {
    throw new ServiceStartError(
      'timescaledb',
      `TimescaleDB is not installed for PostgreSQL ${paths.major}, no package for it is available (${timescaledbPackage(paths.major)}), ` +
        `and the source tarball to build it from is missing: ${source}. Pass one with \`./backbone stack up --timescaledb-source <tarball>\` ` +
        '(the vendored ../shared/vendor/timescaledb-2.28.3.tar.gz, or upstream https://github.com/timescale/timescaledb/archive/refs/tags/2.28.3.tar.gz ' +
        'with the patch from ../shared/vendor next to it), or install TimescaleDB yourself',
    );
  }
  const patches = await sourcePatches(source);
  let missing = await missingBuildTools(options, paths, patches);
  const packagesOf = (tools: typeof missing): string[] => [...new Set(tools.map((tool) => tool.pkg))];
  if (missing.length > 0 && (options.installMissingPackages ?? true)) {
    await aptInstall(
      'timescaledb',
      packagesOf(missing),
      missing.map((tool) => tool.what),
      log,
    );
    missing = await missingBuildTools(options, paths, patches);
  }
  if (missing.length > 0) {
    throw new MissingToolError(
      'timescaledb',
      missing.map((tool) => tool.what),
      `sudo apt-get install -y ${packagesOf(missing).join(' ')}`,
    );
  }

  const buildRoot = join(options.cacheDir, 'timescaledb', 'build', tarballStem(source));
  const sourceDir = join(buildRoot, 'src');
  const buildDir = join(buildRoot, 'build');
  const logFile = join(buildRoot, 'build.log');
  const stepsFile = join(buildRoot, 'steps.json');
  const fingerprint = await sha256Of([source, ...patches]);
  const done = await readSteps(stepsFile, fingerprint);
  if (!done.has('patched')) {
    // A half-extracted or differently sourced tree is not worth repairing: start over.
    await rm(buildRoot, { recursive: true, force: true });
    done.clear();
  }
  await mkdir(sourceDir, { recursive: true });
  const mark = async (step: BuildStep): Promise<void> => {
    done.add(step);
    await writeFile(stepsFile, JSON.stringify({ fingerprint, done: [...done] }));
  };

  const started = Date.now();
  const step = async (what: string, file: string, args: readonly string[], cwd?: string): Promise<void> => {
    try {
      await runLogged(file, args, { logFile, timeoutMs: 3_600_000, ...(cwd ? { cwd } : {}) });
    } catch (error) {
      const reason =
        error instanceof CommandFailedError && error.code === 'ENOENT'
          ? `${file} was not found`
          : error instanceof Error
            ? error.message
            : String(error);
      throw new ServiceStartError(
        'timescaledb',
        `building TimescaleDB failed while ${what}: ${reason}. The whole log: ${logFile}`,
        { cause: error },
      );
    }
  };

  if (!done.has('patched')) {
    await step('extracting the tarball', 'tar', ['-xzf', source, '-C', sourceDir, '--strip-components=1']);
    for (const patch of patches) {
      await step(`applying ${basename(patch)}`, 'patch', ['-p1', '--forward', '-d', sourceDir, '-i', patch]);
    }
    await mark('patched');
  }
  const version = await sourceVersion(sourceDir);
  const cores = availableParallelism();
  if (!done.has('compiled')) {
    log(
      `building TimescaleDB ${version} from ${source}` +
        (patches.length > 0 ? ` with ${patches.map((patch) => basename(patch)).join(', ')}` : '') +
        `, about 3 minutes on 2 cores (once; log: ${logFile})`,
    );
    await step('configuring (cmake)', options.cmake, [
      '-S',
      sourceDir,
      '-B',
      buildDir,
      ...timescaledbCmakeFlags,
      `-DPG_CONFIG=${options.pgConfig}`,
    ]);
    log(`compiling TimescaleDB ${version} (make -j${cores})`);
    await step('compiling (make)', 'make', ['-C', buildDir, `-j${cores}`]);
    await mark('compiled');
  }
  const target = options.destDir ?? dirname(paths.pkglibdir);
  log(`installing TimescaleDB ${version} into ${target} (make install)`);
  await step('installing (make install)', 'make', [
    '-C',
    buildDir,
    'install',
    ...(options.destDir ? [`DESTDIR=${options.destDir}`] : []),
  ]);
  const installed = await findTimescaledb(options.pgConfig, options.destDir);
  if (!installed.installed) {
    throw new ServiceStartError(
      'timescaledb',
      `make install finished but ${installed.controlFile} or ${installed.loaderLibrary} is missing; see ${logFile}`,
    );
  }
  return { how: 'built', version, buildDir: buildRoot, seconds: Math.round((Date.now() - started) / 1000) };
}

type BuildStep = 'patched' | 'compiled';

async function readSteps(stepsFile: string, fingerprint: string): Promise<Set<BuildStep>> {
  try {
    const saved = JSON.parse(await readFile(stepsFile, 'utf8')) as { fingerprint: string; done: BuildStep[] };
    return new Set(saved.fingerprint === fingerprint ? saved.done : []);
  } catch {
    return new Set();
  }
}

/** `version = 2.28.3` from the source tree's `version.config`. */
async function sourceVersion(sourceDir: string): Promise<string> {
  const text = await readFile(join(sourceDir, 'version.config'), 'utf8').catch(() => '');
  const version = /^version\s*=\s*(\S+)/m.exec(text)?.[1];
  if (!version) {
    throw new ServiceStartError(
      'timescaledb',
      `${sourceDir} has no version.config: the tarball is not a TimescaleDB source release`,
    );
  }
  return version;
}

async function sha256Of(files: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${basename(file)}\0`);
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

async function canRead(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
